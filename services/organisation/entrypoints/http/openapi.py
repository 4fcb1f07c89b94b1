"""What an organisation service's OpenAPI document says: the one error shape per status,
the organisation's event vocabulary typed (one schema per event type it records, chosen by
`type`), and examples of its own (each one a request this service takes)."""

import copy
import re
from typing import Any, cast

from events.organisations import Organisations, Sector
from events.registry import latest_model
from services.organisation.domain.case_vocabulary import recordable_types
from services.runtime.http.errors import ErrorPublic
from services.runtime.http.openapi_contract import (
    SCHEMAS,
    OpenApi,
    add_components,
    declare_error_answers,
)

_MEANINGS = {
    401: "No API key, or an unknown or revoked one",
    403: "The API key belongs to another organisation",
    404: "Nothing with this id here",
    409: "The current state forbids this (closed, already decided, stale version, duplicate)",
    422: "The request breaks a rule: `error.fields` names each field and rule",
}
CASE_EVENT = "CaseEventCreate"
_EXAMPLES: dict[Sector, dict[str, Any]] = {  # by component: a request this service takes
    "housing": {
        "CaseCreate": {"reason": "threatened with homelessness", "key_worker": {
            "name": "Sam Okafor", "role": "Housing officer", "team": "Eastside housing"}},
        CASE_EVENT: {"type": "housing.tenancy_at_risk", "data": {"risk": "rent_arrears"}},
        "CaseClose": {"outcome": "Tenancy sustained"},
        "ReferralCreate": {"to_org": "voluntary", "reason": "Needs food support while the"
                           " tenancy is at risk", "urgency": "urgent"},
        "PersonCreate": {"local_id": "HX-20431", "nhs_number": "9434765919", "given_name":
                         "Alex", "family_name": "Morgan", "date_of_birth": "1987-05-14",
                         "postcode": "BS5 6XX", "address": "12 Mill Road",
                         "place": "E05010892"},
    },
    "mental_health": {
        "CaseCreate": {"reason": "referred by GP: low mood, not sleeping", "key_worker": {
            "name": "Dr Ama Mensah", "role": "Care coordinator", "team": "Community mental"
            " health team"}},
        CASE_EVENT: {"type": "mental_health.crisis_episode_started",
                     "data": {"setting": "home_treatment"}},
        "CaseClose": {"outcome": "Discharged to the GP"},
        "ReferralCreate": {"to_org": "housing", "reason": "Leaving hospital with nowhere safe"
                           " to live", "urgency": "urgent"},
        "PersonCreate": {"local_id": "MH-88412", "nhs_number": "4857773457", "given_name":
                         "Priya", "family_name": "Shah", "date_of_birth": "1990-11-02",
                         "postcode": "BS2 0JA", "place": "E05010892"},
    },
    "voluntary": {
        "CaseCreate": {"reason": "drop-in: food and benefits support", "key_worker": {
            "name": "Jo Reid", "role": "Support worker", "team": "Eastside drop-in"}},
        CASE_EVENT: {"type": "voluntary.engagement_recorded", "data": {"channel": "drop_in"}},
        "CaseClose": {"outcome": "Back in touch with family; no support needed"},
        "ReferralCreate": {"to_org": "housing", "reason": "Sleeping in a car since the"
                           " weekend", "urgency": "urgent"},
        "PersonCreate": {"local_id": "VS-00317", "nhs_number": "4010232137", "given_name":
                         "Dave", "family_name": "Smith", "date_of_birth": "1979-03-12",
                         "place": "E05010892"},
    },
}  # fmt: skip
_SAMPLE_PERSON = "0196a3f2-9c1e-7d4b-8a51-3f0e2b7c9d10"


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return the `responses` entry documenting these error statuses."""
    return {status: {"model": ErrorPublic, "description": _MEANINGS[status]} for status in statuses}


def refine_for(sector: Sector, organisations: Organisations) -> Any:
    """Return the refinement of `sector`'s service document (for `published_openapi`), its
    examples naming the place's `organisations`."""

    def refine(document: OpenApi) -> None:
        declare_error_answers(document, everywhere=(403,))  # every key is one organisation's
        type_case_events(document, sector)
        use_own_examples(document, sector, organisations)

    return refine


def type_case_events(document: OpenApi, sector: Sector) -> None:
    """Make the case event request one schema per event type `sector` records, chosen by
    `type` (each `data` as the type's payload, without `case_id`: the path gives it)."""
    schemas = document["components"]["schemas"]
    generic = schemas[CASE_EVENT]
    common = {k: v for k, v in generic["properties"].items() if k not in ("type", "data")}
    mapping = {}
    for event_type in recordable_types(sector):
        name = f"{_camel(event_type)}Event"
        schemas[name] = _typed_request(document, event_type, common)
        mapping[event_type] = SCHEMAS + name
    schemas[CASE_EVENT] = {
        "title": generic.get("title", CASE_EVENT),
        "description": f"An event of the {sector} vocabulary to record on a case: one of the"
        " types"
        " below, chosen by `type`",
        "oneOf": [{"$ref": ref} for ref in mapping.values()],
        "discriminator": {"propertyName": "type", "mapping": mapping},
    }


def _typed_request(document: OpenApi, event_type: str, common: dict[str, Any]) -> dict[str, Any]:
    model = latest_model(event_type)
    payload = model.model_json_schema(ref_template=SCHEMAS + "{model}")
    add_components(document, payload.pop("$defs", {}))
    payload["properties"].pop("case_id", None)
    payload["required"] = [f for f in payload.get("required", []) if f != "case_id"]
    if not payload["required"]:
        del payload["required"]
    payload["title"] = f"{event_type} data"
    request: dict[str, Any] = {
        "type": "object",
        "title": event_type,
        "description": (model.__doc__ or "").strip().splitlines()[0],
        "additionalProperties": False,
        "properties": {
            "type": {"type": "string", "const": event_type, "enum": [event_type]},
            "data": payload,
            **copy.deepcopy(common),
        },
        "required": ["type", "data"] if "required" in payload else ["type"],
    }
    return request


def _camel(event_type: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[._]", event_type))


def use_own_examples(document: OpenApi, sector: Sector, organisations: Organisations) -> None:
    """Give the requests whose examples differ by sector `sector`'s own, naming the place's
    organisations (each example is a request the service takes from a key of the first)."""
    schemas = document["components"]["schemas"]
    own = _EXAMPLES[sector]
    for name in ("PersonCreate", "CaseCreate", CASE_EVENT, "CaseClose"):
        schemas[name]["examples"] = [own[name]]
    org = organisations.of_sector(sector)[0]
    others = [o for o in organisations.ids if o != org]
    referral = dict(own["ReferralCreate"])
    receivers = organisations.of_sector(cast(Sector, referral["to_org"])) or others
    if receivers:
        referral["to_org"] = receivers[0]
        schemas["ReferralCreate"]["examples"] = [{"person_id": _SAMPLE_PERSON, **referral}]
    schemas["ConsentCreate"]["examples"] = [
        {"decision": "withdrawn", "sources": [org], "recipients": others or [org],
         "purposes": ["direct_care", "care_coordination"]},
    ]  # fmt: skip

"""Free text says something: blank text is refused when recorded, yet old events still load."""

from dataclasses import replace
from typing import Any
from uuid import uuid4

import pytest
from pydantic import BaseModel, ValidationError

from events.governance import BreakGlassGranted
from events.identity import IdentityLinked, RecordRef
from events.registry import EventPayload, decode_payload
from events.shared import (
    CaseClosed,
    CaseOpened,
    FlagLifted,
    FlagRaised,
    KeyWorker,
    ReferralDeclined,
    ReferralMade,
)
from services.organisation.domain.cases import open_case
from services.organisation.domain.commands import OpenCase
from services.organisation.domain.people import PersonState
from services.organisation.domain.referrals import receive_referral
from services.organisation.entrypoints.http.case_models import CaseClose, CaseCreate
from services.organisation.entrypoints.http.referral_models import ReferralCreate, ReferralDecline
from tests.unit.organisation.domain_examples import DETAILS, NOW

BLANKS = [" ", "   ", "\t\n", "\u00a0", "\u200b \ufeff"]
CASE = {"case_id": uuid4()}
REFERRAL = {"referral_id": uuid4(), "person_id": uuid4()}
WORKER = {"name": "Sam Okafor"}
RECORDS = {
    "a": RecordRef(org="housing", person_id=uuid4()),
    "b": RecordRef(org="voluntary", person_id=uuid4()),
}
GRANT = {
    "grant_id": uuid4(), "citizen_id": uuid4(), "viewer_org": "housing", "viewer_role": "frontline",
    "key_id": "k1", "expires_at": NOW,
}  # fmt: skip

# each: a model, the fields it needs besides the text, and where the text goes
TEXTS: list[tuple[type[BaseModel], dict[str, Any], tuple[str, ...]]] = [
    (CaseOpened, {**CASE, "person_id": uuid4(), "key_worker": WORKER}, ("reason",)),
    (CaseClosed, CASE, ("outcome",)),
    (FlagRaised, {**CASE, "flag": "risk_to_staff"}, ("note",)),
    (FlagLifted, {**CASE, "flag": "risk_to_staff"}, ("note",)),
    (ReferralMade, {**REFERRAL, "to_org": "voluntary", "person": DETAILS}, ("reason",)),
    (ReferralDeclined, {**REFERRAL, "from_org": "housing"}, ("reason",)),
    (CaseOpened, {**CASE, "person_id": uuid4(), "reason": "Arrears"}, ("key_worker", "name")),
    (CaseOpened, {**CASE, "person_id": uuid4(), "reason": "Arrears"}, ("key_worker", "role")),
    (CaseOpened, {**CASE, "person_id": uuid4(), "reason": "Arrears"}, ("key_worker", "team")),
    (IdentityLinked, RECORDS, ("reason",)),
    (BreakGlassGranted, GRANT, ("reason",)),
    (CaseCreate, {"key_worker": WORKER}, ("reason",)),
    (CaseClose, {}, ("outcome",)),
    (ReferralCreate, {"person_id": uuid4(), "to_org": "voluntary"}, ("reason",)),
    (ReferralDecline, {}, ("reason",)),
]


def _with_text(fields: dict[str, Any], where: tuple[str, ...], text: str) -> dict[str, Any]:
    if len(where) == 1:
        return {**fields, where[0]: text}
    return {**fields, where[0]: {**WORKER, where[1]: text}}


def _named(model: type[BaseModel], where: tuple[str, ...]) -> str:
    return f"{model.__name__}.{'.'.join(where)}"


@pytest.mark.parametrize(("model", "fields", "where"), TEXTS, ids=[_named(*t[::2]) for t in TEXTS])
@pytest.mark.parametrize("blank", BLANKS, ids=repr)
def test_blank_free_text_is_refused_naming_the_field_and_rule(
    model: type[BaseModel], fields: dict[str, Any], where: tuple[str, ...], blank: str
) -> None:
    """Spaces, tabs, no-break and zero-width spaces alone are no reason: rule not_blank."""
    with pytest.raises(ValidationError) as refused:
        model.model_validate(_with_text(fields, where, blank))
    assert (where, "not_blank") in {(e["loc"], e["type"]) for e in refused.value.errors()}


@pytest.mark.parametrize(("model", "fields", "where"), TEXTS, ids=[_named(*t[::2]) for t in TEXTS])
def test_text_with_words_is_kept_as_written(
    model: type[BaseModel], fields: dict[str, Any], where: tuple[str, ...]
) -> None:
    """Real words, even with spaces around them, are accepted unchanged."""
    text = "  Checked with the person on the phone  "
    validated = model.model_validate(_with_text(fields, where, text))
    kept = getattr(validated, where[0])
    assert (getattr(kept, where[1]) if len(where) > 1 else kept) == text


def test_a_reason_padded_to_its_minimum_length_with_spaces_is_too_short() -> None:
    """A break-glass reason needs ten characters besides the spaces around them."""
    with pytest.raises(ValidationError) as refused:
        BreakGlassGranted.model_validate({**GRANT, "reason": "   urgent       "})
    assert [(e["loc"], e["type"]) for e in refused.value.errors()] == [
        (("reason",), "string_too_short")
    ]


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (
            CaseOpened,
            {**CASE, "person_id": uuid4(), "reason": " ", "key_worker": {"name": " ", "role": " "}},
        ),
        (FlagRaised, {**CASE, "flag": "risk_to_staff", "note": "  "}),
        (FlagLifted, {**CASE, "flag": "risk_to_staff", "note": ""}),
        (
            CaseOpened,
            {**CASE, "person_id": uuid4(), "reason": "x", "key_worker": {"name": "S", "team": ""}},
        ),
        (ReferralDeclined, {**REFERRAL, "from_org": "housing", "reason": " "}),
    ],
)
def test_events_recorded_with_blank_text_before_the_rule_still_load(
    model: type[EventPayload], data: dict[str, Any]
) -> None:
    """Reading back an old event with blank text gives it as it was stored: no failure."""
    stored = {key: str(value) if key.endswith("_id") else value for key, value in data.items()}
    payload = decode_payload(model.event_type, model.schema_version, stored)
    assert isinstance(payload, model)


def test_a_key_worker_without_role_or_team_is_fine() -> None:
    """Optional free text may be left out."""
    assert KeyWorker(name="Sam Okafor").role is None


def test_a_referral_sent_with_a_blank_reason_before_the_rule_is_still_received_and_accepted() -> (
    None
):
    """The receiver copies the sender's words as they were recorded: no inbox stuck on them."""
    made = decode_payload(
        "referral.made",
        1,
        {"referral_id": str(uuid4()), "person_id": str(uuid4()), "to_org": "voluntary",
         "reason": "  ", "person": DETAILS.model_dump(mode="json")},
    )  # fmt: skip
    assert isinstance(made, ReferralMade)
    received = receive_referral(made, from_org="housing", person_id=uuid4(), found_by="new_record")
    assert received.reason == "  "
    person = PersonState(received.person_id, DETAILS, "E05010892", NOW, 1)
    command = OpenCase(person.person_id, received.reason, KeyWorker(name="Sam Okafor"),
                       referral_id=received.referral_id)  # fmt: skip
    assert open_case(person, command, case_id=uuid4()).reason == "  "
    with pytest.raises(ValidationError):  # a case opened directly says why
        open_case(person, replace(command, referral_id=None), case_id=uuid4())

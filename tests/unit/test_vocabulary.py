"""The shared vocabulary: every event type is documented, strict, frozen and decodable."""

from collections import Counter
from typing import Any
from uuid import uuid4

import pytest
from pydantic import Field, ValidationError

import events
from events import registry
from events.registry import EventPayload, decode_payload, event_type, glossary_line

ALL_TYPES = registry.registered_types()
CASE_ID = str(uuid4())
KEY_WORKER = {"name": "Sam Okafor", "team": "Eastside CMHT", "email": "sam.okafor@example.org"}
EXAMPLES: dict[str, dict[str, Any]] = {
    "housing.tenancy_at_risk": {"risk": "rent_arrears", "arrears_amount": "412.50"},
    "housing.eviction_notice_served": {"notice": "section_21", "served_on": "2025-03-01"},
    "mental_health.referral_received": {"source": "gp", "urgency": "urgent"},
    "mental_health.care_coordinator_assigned": {"coordinator": KEY_WORKER},
    "mental_health.crisis_plan_agreed": {"review_date": "2025-06-30"},
    "mental_health.discharged": {"destination": "gp_care", "follow_up_days": 3},
    "voluntary.support_session_held": {"session": "harm_reduction", "duration_minutes": 45},
    "voluntary.benefits_support_given": {"benefit": "pip", "outcome": "claim_made"},
}


def _type_id(model: type[EventPayload]) -> str:
    return f"{model.event_type}@v{model.schema_version}"


@pytest.mark.parametrize("model", ALL_TYPES, ids=_type_id)
def test_every_type_has_a_glossary_line_and_a_category(model: type[EventPayload]) -> None:
    """A worker reading the glossary sees a one-sentence meaning and a sharing category."""
    assert glossary_line(model).endswith(".")
    assert model.category


@pytest.mark.parametrize("model", ALL_TYPES, ids=_type_id)
def test_every_type_rejects_fields_it_does_not_define(model: type[EventPayload]) -> None:
    """A typo in a field name is an error, not silently dropped data."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate({"unexpected_field": "x"})
    errors = {(error["type"], error["loc"]) for error in caught.value.errors()}
    assert ("extra_forbidden", ("unexpected_field",)) in errors


@pytest.mark.parametrize("model", ALL_TYPES, ids=_type_id)
def test_every_type_is_frozen(model: type[EventPayload]) -> None:
    """A recorded event cannot be changed after it is made."""
    payload = model.model_construct()
    field = next(iter(model.model_fields))
    with pytest.raises(ValidationError, match="frozen"):
        setattr(payload, field, "changed")


@pytest.mark.parametrize("organisation", ["housing", "mental_health", "voluntary"])
def test_each_organisation_has_its_own_vocabulary(organisation: str) -> None:
    """Housing, the trust and the voluntary sector each record at least six kinds of event."""
    modules = Counter(model.__module__ for model in ALL_TYPES)
    assert modules[f"events.{organisation}"] >= 6


@pytest.mark.parametrize(("name", "fields"), EXAMPLES.items(), ids=list(EXAMPLES))
def test_stored_payload_decodes_to_the_same_event(name: str, fields: dict[str, Any]) -> None:
    """An event written as JSON reads back as the same typed payload."""
    payload = decode_payload(name, 1, {"case_id": CASE_ID, **fields})
    assert decode_payload(name, 1, payload.model_dump(mode="json")) == payload
    assert type(payload).event_type == name


def test_decoding_an_unknown_type_says_so() -> None:
    """A consumer meeting a type the vocabulary does not define gets UnknownEventType."""
    with pytest.raises(events.UnknownEventType):
        decode_payload("housing.no_such_thing", 1, {})


def test_decoding_an_unknown_version_of_a_known_type_says_so() -> None:
    """A version from the future is not guessed at."""
    with pytest.raises(events.UnknownEventType):
        decode_payload("mental_health.discharged", 99, {"case_id": CASE_ID})


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let a test register throwaway types without leaving them in the vocabulary."""
    monkeypatch.setattr(registry, "_TYPES", dict(registry._TYPES))
    monkeypatch.setattr(registry, "_LATEST", dict(registry._LATEST))


@pytest.mark.usefixtures("scratch_registry")
def test_an_old_version_is_upcast_to_the_current_one() -> None:
    """An event written long ago in an old shape reads as the current version."""
    name = f"test.session_{uuid4().hex}"

    def rename_minutes(data: dict[str, Any]) -> dict[str, Any]:
        return {"duration_minutes": data["minutes"]}

    @event_type(name, version=1, category="test", upcast_to_next=rename_minutes)
    class SessionV1(EventPayload):
        """A session, when its length was called minutes."""

        minutes: int

    @event_type(name, version=2, category="test")
    class SessionV2(EventPayload):
        """A session, with its length named duration_minutes."""

        duration_minutes: int = Field(ge=1)

    assert decode_payload(name, 1, {"minutes": 30}) == SessionV2(duration_minutes=30)


@pytest.mark.usefixtures("scratch_registry")
def test_an_old_version_without_an_upcaster_is_refused() -> None:
    """An old version nobody said how to upcast is an error, not a half-read event."""
    name = f"test.note_{uuid4().hex}"

    @event_type(name, version=1, category="test")
    class NoteV1(EventPayload):
        """A note, first shape."""

    @event_type(name, version=2, category="test")
    class NoteV2(EventPayload):
        """A note, second shape."""

    with pytest.raises(events.UnknownEventType, match="no upcaster"):
        decode_payload(name, 1, {})


V1_DETAILS = {
    "given_name": "Alex", "family_name": "Morgan", "date_of_birth": "1987-05-14",
    "postcode": "BS5 6XX",
}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "data", "details_at"),
    [
        ("person.registered", {"person_id": CASE_ID, "details": V1_DETAILS}, "details"),
        ("person.details_changed", {"person_id": CASE_ID, "changes": {"postcode": None}}, None),
        (
            "referral.made",
            {
                "referral_id": CASE_ID,
                "person_id": CASE_ID,
                "to_org": "voluntary",
                "reason": "Rent arrears",
                "person": V1_DETAILS,
            },
            "person",
        ),
    ],
)
def test_details_recorded_before_addresses_read_as_having_none(
    name: str, data: dict[str, Any], details_at: str | None
) -> None:
    """v1 of the types carrying a person's details had no address line: stored v1 events
    still load, as the current version, without one; v1 never took an address."""
    payload = decode_payload(name, 1, data)
    assert payload.schema_version == 2
    if details_at:
        assert getattr(payload, details_at).address is None
        details = {**data[details_at], "address": "12 Mill Road"}
        v1 = next(m for m in ALL_TYPES if (m.event_type, m.schema_version) == (name, 1))
        with pytest.raises(ValidationError, match="address"):
            v1.model_validate({**data, details_at: details})

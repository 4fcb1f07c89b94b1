"""Which events an organisation records on its cases (its sector's vocabulary, and flags), and
whether their data follows the rules."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from events.envelope import Envelope
from events.organisations import Sector
from events.recording_rules import ALREADY_RECORDED, recording_context
from events.registry import decode_payload, latest_model, registered_types
from events.shared import CaseEvent
from services.organisation.domain.cases import CaseState, ensure_follows_history, ensure_writable
from services.organisation.domain.commands import RecordCaseEvent
from services.organisation.domain.errors import InvalidEventData, UnknownEventType, problem

SHARED_CASE_TYPES = ("flag.raised", "flag.lifted")
_CASE_ID_FROM_PATH = problem(
    ["data", "case_id"],
    "case_id_from_path",
    "the case id comes from the path; leave it out of data",
)


def recordable_types(sector: Sector) -> tuple[str, ...]:
    """Return the event types an organisation of `sector` records through its cases: its
    sector's own, then flags."""
    own = {
        model.event_type
        for model in registered_types()
        if model.event_type.startswith(f"{sector}.") and issubclass(model, CaseEvent)
    }
    return (*sorted(own), *SHARED_CASE_TYPES)


def case_event(
    state: CaseState, command: RecordCaseEvent, *, sector: Sector, now: datetime
) -> CaseEvent:
    """Decide the typed payload of an event recorded on a case (at `now` unless the command
    says when it happened), validating its data against its type and the case's history."""
    payload = validated_case_event(
        sector=sector,
        type_=command.type,
        data=command.data,
        case_id=state.case_id,
        occurred_at=command.occurred_at or now,
    )
    ensure_writable(state, expected_version=command.expected_version)
    ensure_follows_history(state, payload)
    return payload


def is_retry_of(stored: Envelope, command: RecordCaseEvent) -> bool:
    """Tell whether `command` asks again for the stored event: same type, data and (if the
    command says) occurred_at."""
    if command.type != stored.type or command.occurred_at not in (None, stored.occurred_at):
        return False
    recorded = decode_payload(stored.type, stored.schema_version, stored.data)
    asked = {"case_id": stored.data.get("case_id"), **command.data}
    try:
        again = latest_model(command.type).model_validate(asked, context=ALREADY_RECORDED)
    except ValidationError:
        return False
    return again.model_dump(mode="json") == recorded.model_dump(mode="json")


def validated_case_event(
    *, sector: Sector, type_: str, data: dict[str, Any], case_id: UUID, occurred_at: datetime
) -> CaseEvent:
    """Return the typed payload of a `type_` event on a case that happened at `occurred_at`,
    or say what is wrong with `data`."""
    allowed = recordable_types(sector)
    if type_ not in allowed:
        raise UnknownEventType(type_, allowed)
    model = latest_model(type_)
    problems = [_CASE_ID_FROM_PATH] if "case_id" in data else []
    try:
        context = recording_context(occurred_at=occurred_at)
        payload = model.model_validate({**data, "case_id": case_id}, context=context)
    except ValidationError as error:
        problems += _problems(error.errors())
    if problems:
        raise InvalidEventData(problems)
    assert isinstance(payload, CaseEvent)  # recordable_types only lists case event types
    return payload


def _problems(errors: Sequence[Any]) -> list[dict[str, Any]]:
    return [problem(["data", *e["loc"]], e["type"], e["msg"]) for e in errors]

"""Take in what a charity's own system pushed (a signed webhook's body, or a CSV row), once
per message id: applied as its source's mapping says (`inbound_commands.py`), or kept in
quarantine with why (`quarantine.py`), in the caller's transaction.
"""

from typing import Any

from services.organisation.domain.inbound_mapping import Source, Unmappable
from services.organisation.domain.recording import Recording
from services.organisation.service_layer.inbound_commands import Applied, applied_or_why
from services.organisation.service_layer.quarantine import Quarantined, keep_aside
from services.organisation.service_layer.unit_of_work import UnitOfWork
from services.runtime.idempotency import StoredResponse, request_fingerprint


async def take_inbound(
    uow: UnitOfWork,
    *,
    source: Source,
    message_id: str,
    message: dict[str, Any],
    recording: Recording,
) -> Applied | Quarantined:
    """Apply a source's message, or quarantine it saying why (nothing of it half-applied)."""
    why = await applied_or_why(uow, source, message, recording)
    if not isinstance(why, Unmappable):
        return why
    return await keep_aside(
        uow, source, message_id=message_id, message=message, why=why, recording=recording
    )


async def take_inbound_once(
    uow: UnitOfWork,
    *,
    source: Source,
    message_id: str,
    message: dict[str, Any],
    recording: Recording,
) -> tuple[StoredResponse, bool]:
    """Take a message in once per message id (`take_inbound`): return the answer, and
    whether it is the first answer again (a re-delivery records nothing new; the same id with
    another message raises IdempotencyKeyReused). The caller commits."""
    scope = f"inbound:{source.name}"
    fingerprint = request_fingerprint("INBOUND", source.name, message)
    earlier = await uow.idempotency.claim(scope=scope, key=message_id, fingerprint=fingerprint)
    if earlier is not None:
        return earlier, True
    outcome = await take_inbound(
        uow, source=source, message_id=message_id, message=message, recording=recording
    )
    answer = answer_of(outcome)
    await uow.idempotency.remember(scope=scope, key=message_id, response=answer)
    return answer, False


def answer_of(outcome: "Applied | Quarantined") -> StoredResponse:
    """Return what a message's sender is told: 200 applied (what, to whom), 202 kept in
    quarantine (the field and rule)."""
    if isinstance(outcome, Applied):
        said: dict[str, Any] = {"status": "applied", "command": outcome.command,
                                "person_id": str(outcome.person_id)}  # fmt: skip
        if outcome.case_id is not None:
            said["case_id"] = str(outcome.case_id)
        if outcome.event_id is not None:
            said["event_id"] = str(outcome.event_id)
        return StoredResponse(200, said)
    said = {"status": "quarantined", "quarantine_id": str(outcome.quarantine_id),
            "field": outcome.field, "rule": outcome.rule}  # fmt: skip
    return StoredResponse(202, said)

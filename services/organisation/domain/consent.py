"""A person's decision about sharing, as an organisation that knows them records it."""

from datetime import datetime

from events.consent import ConsentDecision, ConsentGiven, ConsentWithdrawn
from events.envelope import OrgId
from services.organisation.domain.commands import RecordConsent
from services.organisation.domain.errors import Invalid, problem
from services.organisation.domain.people import PersonState


def record_consent(
    person: PersonState, command: RecordConsent, *, own_org: OrgId, now: datetime
) -> ConsentDecision:
    """Decide the event recording the person's decision (raises Invalid naming the field).

    Consent is given for this organisation's own records only (each organisation answers
    for sharing what it holds); a withdrawal or objection may name any organisation's. A
    decision covers nothing when its only records are its only recipient's: an organisation
    always sees its own. A decision cannot be dated after it is recorded, so it never
    outranks one recorded after it.
    """
    if command.occurred_at is not None and command.occurred_at > now:
        message = "a decision about sharing cannot be dated in the future"
        raise _invalid("occurred_at", "occurred_at_in_future", message)
    if command.decision == "given":
        if command.sources not in (None, (own_org,)):
            message = f"consent given covers {own_org}'s own records only"
            raise _invalid("sources", "own_records_only", message)
        sources: tuple[OrgId, ...] | None = (own_org,)
    else:
        sources = command.sources
    if sources is not None and len(sources) == 1 and set(command.recipients) == set(sources):
        message = "an organisation always sees its own records: name other recipients"
        raise _invalid("recipients", "covers_nothing", message)
    if command.decision == "given":
        return ConsentGiven(
            person_id=person.person_id, recipients=command.recipients, purposes=command.purposes
        )
    return ConsentWithdrawn(
        person_id=person.person_id, recipients=command.recipients, purposes=command.purposes,
        sources=command.sources,
    )  # fmt: skip


def _invalid(field: str, rule: str, message: str) -> Invalid:
    return Invalid(message, problems=[problem((field,), rule, message)])

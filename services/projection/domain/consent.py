"""The person's standing decisions about sharing, and which organisations' records they withhold.

Pure. A decision event covers every (source, recipient, purpose) it names: consent given
always names one source, the organisation that recorded it; a withdrawal names some
sources, or none (every organisation's records). For each such cell the latest decision
stands (by when it occurred, then when it was recorded, then its id: the same in any
arrival order).

For a reader of organisation R reading for purpose P, another organisation S's records are
withheld when
- the standing decision about S's records is a withdrawal; or
- the standing withdrawal about every organisation's records is later than any consent S
  gave (a consent about S's records later than it lifts it for S alone); or
- the place needs consent for P and S has recorded none.
A consent recorded by one organisation never lifts a withdrawal about another's records,
however it is worded. An organisation's own records are never withheld from it.
"""

from collections.abc import Iterable

from events.consent import ConsentDecision, ConsentWithdrawn, Purpose
from events.envelope import Envelope, OrgId
from events.registry import EventPayload
from services.projection.domain.view import ConsentState

ConsentKey = tuple[OrgId | None, OrgId, Purpose]
Consents = dict[ConsentKey, ConsentState]  # a fold's working copy


def concerns_consents(kind: type[EventPayload]) -> bool:
    """Return whether events of this payload type are decisions about sharing."""
    return issubclass(kind, ConsentDecision)


def working_consents(states: Iterable[ConsentState]) -> Consents:
    """Return a fold's working copy of the standing decisions."""
    return {(state.source, state.recipient, state.purpose): state for state in states}


def apply_to_consents(consents: Consents, envelope: Envelope, payload: EventPayload) -> bool:
    """Fold one decision in; return whether any standing decision changed."""
    if not isinstance(payload, ConsentDecision):
        return False
    sources: tuple[OrgId | None, ...]
    if isinstance(payload, ConsentWithdrawn):
        decision, sources = "withdrawn", payload.sources or (None,)
    else:  # consent is given for the recording organisation's own records only
        decision, sources = "given", (envelope.org,)
    changed = False
    for source in sources:
        for recipient in payload.recipients:
            if source == recipient:
                continue  # an organisation always sees its own records
            for purpose in payload.purposes:
                state = ConsentState(
                    source=source, recipient=recipient, purpose=purpose, decision=decision,
                    recorded_by=envelope.org, decided_at=envelope.occurred_at,
                    recorded_at=envelope.recorded_at, event_id=envelope.event_id,
                )  # fmt: skip
                standing = consents.get((source, recipient, purpose))
                if standing is None or state.rank > standing.rank:
                    consents[(source, recipient, purpose)] = state
                    changed = True
    return changed


def consents_of(consents: Consents) -> tuple[ConsentState, ...]:
    """Return the standing decisions in a stable order."""
    return tuple(sorted(consents.values(), key=lambda c: (c.source or "", c.recipient, c.purpose)))


def shares(
    consents: Iterable[ConsentState],
    *,
    source: OrgId,
    recipient: OrgId,
    purpose: Purpose,
    needs_consent: bool,
) -> bool:
    """Tell whether the person's decisions let `source`'s records be shown to `recipient`."""
    if source == recipient:
        return True
    specific = blanket = None
    for c in consents:
        if c.recipient == recipient and c.purpose == purpose:
            if c.source == source:
                specific = c
            elif c.source is None:
                blanket = c
    if specific is not None and specific.decision == "withdrawn":
        return False
    given_later = specific is not None and (blanket is None or specific.rank > blanket.rank)
    if blanket is not None and blanket.decision == "withdrawn" and not given_later:
        return False
    return specific is not None or not needs_consent


def withheld_sources(
    consents: Iterable[ConsentState],
    *,
    recipient: OrgId,
    purpose: Purpose,
    needs_consent: bool,
    sources: Iterable[OrgId],
) -> frozenset[OrgId]:
    """Return the organisations whose records the person's decisions keep from `recipient`."""
    decisions = tuple(consents)
    return frozenset(
        source
        for source in sources
        if not shares(
            decisions,
            source=source,
            recipient=recipient,
            purpose=purpose,
            needs_consent=needs_consent,
        )
    )

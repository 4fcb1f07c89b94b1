"""Identity resolution: which citizen each organisation's person is, decided by registrations.

A `person.registered` event links the organisation's person to the citizen id its details
give (`domain.citizen_ids`). Incremental folding is right for almost every batch; two cases
need a citizen folded afresh from the timeline instead:
- a person registered again with details that give another citizen id (re-linked): both
  the old and the new citizen are refolded;
- a person whose earlier events arrived before any registration linked them (which an
  organisation's own ordering should prevent): those events are in the timeline, unapplied,
  and folding the citizen from the timeline applies them in the order they arrived.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from events.envelope import Envelope
from events.registry import EventPayload
from events.shared import PersonRegistered
from services.projection.domain.citizen_ids import citizen_id_for
from services.projection.read_model import PersonKey, ReadModel
from services.runtime.database import Connection


@dataclass(frozen=True)
class Links:
    """Which citizen each person in a batch is, and which citizens to fold from the timeline."""

    citizen_of: dict[PersonKey, UUID]
    refold: frozenset[UUID]


class IdentityResolution:
    """Links the people in a batch to citizens, in the batch's transaction."""

    def __init__(self, model: ReadModel, *, id_secret: bytes) -> None:
        self._model = model
        self._secret = id_secret

    async def resolve(
        self,
        conn: Connection,
        events: Sequence[tuple[Envelope, EventPayload]],
        *,
        batch_arrival: int,
    ) -> Links:
        """Record the links new registrations make; return every link the batch needs."""
        existing = await self._model.links_of(conn, {(e.org, e.subject) for e, _ in events})
        registered: dict[PersonKey, UUID] = {
            (envelope.org, envelope.subject): self.citizen_of(envelope, payload)
            for envelope, payload in events
            if isinstance(payload, PersonRegistered)
        }
        changed = {
            key: citizen for key, citizen in registered.items() if existing.get(key) != citizen
        }
        if not changed:
            return Links(existing, frozenset())
        await self._model.save_links(conn, changed)
        fresh = [key for key in changed if key not in existing]
        early = await self._model.seen_before(conn, fresh, batch_arrival) if fresh else set()
        moved_from = {existing[key] for key in changed if key in existing}
        moved_to = {changed[key] for key in changed if key in existing or key in early}
        return Links({**existing, **changed}, frozenset(moved_from | moved_to))

    def citizen_of(self, envelope: Envelope, registration: PersonRegistered) -> UUID:
        """Return the citizen id a registration gives its person."""
        return citizen_id_for(
            self._secret,
            org=envelope.org,
            person_id=str(registration.person_id),
            nhs_number=registration.details.nhs_number,
        )

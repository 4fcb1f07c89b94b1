"""The projection applying a dead letter again, as its worker would have, once it can read it.

Two kinds: a poison message from the dead-letter topic (never in the timeline: it is projected
now, and the timeline's key, organisation and `event_id`, makes a second time a no-op), and an
event parked in the timeline (stored, not folded: its person's registration is matched if it
is one, and the citizen it belongs to is folded afresh from the timeline, which gives the same
view however often it is done). Either way in the caller's transaction, which records the
redrive, so it commits with it or not at all.
"""

from collections.abc import Mapping
from uuid import UUID

import asyncpg

from events.envelope import Envelope, OrgId
from services.identity_matching.matching import MatchingConfig
from services.projection.adapters.postgres_unit_of_work import (
    PostgresUnitOfWork,
    ReadModelStores,
)
from services.projection.domain.fold import BatchFold, fold
from services.projection.service_layer.identity_resolution import IdentityResolution
from services.projection.service_layer.kafka_batch import understand
from services.projection.service_layer.log_projection import (
    DEFAULT_MATCHING,
    IDENTIFYING_TYPES,
    ProjectionConsumer,
    refolded_views,
)
from services.runtime.database import Connection, Pool
from services.runtime.kafka.consumed import ConsumedMessage, PoisonMessage
from services.runtime.kafka.topics import organisation_topics
from services.runtime.parked_events import Unreadable, decoded_or_unreadable
from services.runtime.person_keys import PersonKeys


class ProjectionRedrive:
    """Applies the projection's dead letters, in the projection's schema."""

    def __init__(
        self,
        pool: Pool,
        *,
        schema: str,
        id_secret: bytes,
        matching: MatchingConfig = DEFAULT_MATCHING,
        keys: PersonKeys | None = None,
        topic_orgs: Mapping[str, OrgId] | None = None,
        fold_batch: BatchFold = fold,
    ) -> None:
        self._stores = ReadModelStores.in_schema(schema, keys=keys)
        self.schema = self._stores.schema
        self._pool = pool
        self._consumer = ProjectionConsumer(
            lambda: PostgresUnitOfWork(pool, self._stores), id_secret=id_secret,
            fold_batch=fold_batch, matching=matching,
        )  # fmt: skip
        self._identities = IdentityResolution(id_secret=id_secret, matching=matching)
        self._fold = fold_batch
        self._topic_orgs = dict(topic_orgs or organisation_topics())

    async def apply_message(self, conn: Connection, message: ConsumedMessage) -> Unreadable | None:
        """Project a message from the dead-letter topic; return why it still cannot be."""
        understood = understand(message, self._topic_orgs)
        if isinstance(understood, PoisonMessage):
            return Unreadable(understood.reason, understood.detail)
        envelope, payload = understood
        async with PostgresUnitOfWork.joining(conn, self._stores) as uow:
            if payload is None:  # sealed: readable or not only once opened (not parked here)
                [opened] = await uow.open([envelope])
                why = decoded_or_unreadable(opened) if opened is not None else None
                if isinstance(why, Unreadable):
                    return why
            try:
                async with conn.transaction():  # a savepoint: a refused value leaves conn usable
                    await self._consumer.project(uow, [(envelope, payload)])
            except asyncpg.DataError as error:
                refused = f"(value): PostgreSQL refused it ({type(error).__name__})"
                return Unreadable("unstorable", refused)
        return None

    async def apply_parked(self, conn: Connection, org: str, event_id: str) -> Unreadable | None:
        """Fold a parked event of the timeline into its citizen's view; return why it cannot be."""
        async with PostgresUnitOfWork.joining(conn, self._stores) as uow:
            return await self._fold_parked(uow, org, event_id)

    async def _fold_parked(
        self, uow: PostgresUnitOfWork, org: str, event_id: str
    ) -> Unreadable | None:
        found = await uow.read_model.timeline_event(org, UUID(event_id))
        if found is None:
            return Unreadable("not_in_timeline", "(event): not in the timeline (being rebuilt?)")
        envelope, arrival = found
        registering = envelope.type in IDENTIFYING_TYPES
        await self._identities.hold_links(uow, registering=registering)  # before keys are read
        [opened] = await uow.open([envelope])
        if opened is None:
            return None  # about a person since erased: nothing of it is to be shown
        payload = decoded_or_unreadable(opened)
        if isinstance(payload, Unreadable):
            return payload
        links = await self._identities.resolve(uow, [(opened, payload)], batch_arrival=arrival)
        citizen = links.citizen_of.get((opened.org, opened.subject))
        citizens = set(links.refold) | ({citizen} if citizen is not None else set())
        if citizens:  # none: its person is not linked yet; their registration will fold it
            await uow.read_model.lock_citizens(citizens)
            views = await refolded_views(uow, citizens, self._fold)
            await uow.read_model.save_views(list(views.values()))
        return None

    async def parked_event(self, org: str, event_id: str) -> Envelope | None:
        """Return a parked event as the timeline keeps it (personal values sealed)."""
        async with PostgresUnitOfWork(self._pool, self._stores) as uow:
            found = await uow.read_model.timeline_event(org, UUID(event_id))
        return found[0] if found else None

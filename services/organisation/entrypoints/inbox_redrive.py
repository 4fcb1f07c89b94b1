"""The referral inbox applying a dead letter again, as it would have, once it can read it.

A poison message from the dead-letter topic (Kafka mode), or a referral the embedded inbox
parked (it stays in the sender's log, read from there by id). Receiving is idempotent by the
referral's event id (every id the inbox writes derives from it), and runs in the caller's
transaction, which records the redrive.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from uuid import UUID

from events.envelope import Envelope, OrgId
from services.organisation.adapters.postgres_unit_of_work import PostgresUnitOfWork, Stores
from services.organisation.service_layer.inbox import take_in
from services.organisation.service_layer.referral_messages import referral_in
from services.runtime.database import Connection, Pool
from services.runtime.event_log import PostgresEventLog
from services.runtime.event_store_schema import checked_schema
from services.runtime.kafka.consumed import ConsumedMessage, PoisonMessage
from services.runtime.parked_events import Unreadable


class InboxRedrive:
    """Applies one organisation's referral inbox's dead letters, in its schema."""

    def __init__(
        self, pool: Pool, stores: Stores, *, schema: str, log_schemas: Mapping[OrgId, str]
    ) -> None:
        self.schema = checked_schema(schema)
        self._pool = pool
        self._stores = stores
        self._log_schemas: dict[str, str] = {str(org): s for org, s in log_schemas.items()}

    async def apply_message(self, conn: Connection, message: ConsumedMessage) -> Unreadable | None:
        """Receive a referral from the dead-letter topic; return why it still cannot be."""
        outcome = referral_in(message, self._stores.org)
        if isinstance(outcome, PoisonMessage):
            return Unreadable(outcome.reason, outcome.detail)
        if outcome is None:
            return None  # this release sees no referral to this organisation in it
        return await self._receive(conn, outcome)

    async def apply_parked(self, conn: Connection, org: str, event_id: str) -> Unreadable | None:
        """Receive a referral the embedded inbox parked; return why it still cannot be."""
        source = await self.parked_event(org, event_id)
        if source is None:
            return Unreadable("not_in_log", f"(event): not in {org}'s log")
        return await self._receive(conn, source)

    async def parked_event(self, org: str, event_id: str) -> Envelope | None:
        """Return a parked referral as the sender's log keeps it (personal values sealed)."""
        schema = self._log_schemas.get(org)
        if schema is None:
            return None
        return await PostgresEventLog(self._pool, source=org, schema=schema).event(UUID(event_id))

    async def _receive(self, conn: Connection, source: Envelope) -> Unreadable | None:
        now = datetime.now(UTC)
        uow = PostgresUnitOfWork.joining(conn, self._stores)
        async with uow:
            return await take_in(uow, source=source, received_at=now)

"""What charities' systems sent or are owed that waits on ops, as gauges sampled at each
scrape of /metrics (`caseweave_adapter_backlog{org, what}`): messages held in quarantine,
webhooks out pending and parked. Only where the organisation has sources."""

import contextlib
from collections.abc import Iterator

from services.organisation.adapters.quarantine_rows import held_count
from services.organisation.adapters.webhook_deliveries import WebhookDeliveries
from services.runtime.database import Pool
from services.runtime.metrics import sampled_on_scrape, set_adapter_backlog


@contextlib.contextmanager
def adapter_backlog_sampled(pool: Pool, *, org: str, schema: str, sources: int) -> Iterator[None]:
    """Sample the organisation's adapter backlog at each scrape while the block runs."""
    if not sources:
        yield
        return

    async def sample() -> None:
        async with pool.acquire() as conn:
            set_adapter_backlog(org, "quarantine_held", await held_count(conn, schema))
            counts = await WebhookDeliveries(conn, schema).counts()
        for status in ("pending", "parked"):
            set_adapter_backlog(org, f"webhooks_{status}", counts.get(status, 0))

    with sampled_on_scrape(sample):
        yield

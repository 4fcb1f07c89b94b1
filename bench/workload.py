"""How a workload's events are split among transactions and among concurrent writers."""

from collections.abc import Sequence
from typing import TypeVar

from bench.payloads import StreamEvent

T = TypeVar("T")


def in_batches(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """Return `items` cut into consecutive batches of at most `size`."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def by_stream_owner(events: Sequence[StreamEvent], writers: int) -> list[list[StreamEvent]]:
    """Split `events` among `writers`, each stream owned by one writer, order kept in each share.

    One owner per stream means writers never race on a stream, so no append conflicts.
    """
    owners: dict[str, int] = {}
    shares: list[list[StreamEvent]] = [[] for _ in range(writers)]
    for event in events:
        owner = owners.setdefault(event.stream_id, len(owners) % writers)
        shares[owner].append(event)
    return [share for share in shares if share]

"""The benchmark parts, by name: add a part with one module and one line here.

A part's `ours` (and optional `peer`) is an async function taking a `BenchContext` and
returning `Measurement`s; its `sizes` become command-line options. See bench/README.md.
"""

from bench import (
    event_store,
    http_write,
    inbound,
    kafka_projection,
    linkage,
    matching,
    peer_eventsourcing,
    peer_projection,
    peer_splink,
    projection_catch_up,
    relay,
    view_latency,
)
from bench.http_write import HTTP_WRITE_SIZES, SHARE_OF_APPEND
from bench.inbound import INBOUND_SIZES
from bench.kafka_projection import KAFKA_PROJECTION_EVENTS
from bench.linkage import LINKAGE_PEOPLE
from bench.matching import MATCHING_CITIZENS, MATCHING_REGISTRATIONS
from bench.part import Part, SizeOption
from bench.projection_catch_up import PROJECTION_EVENTS
from bench.relay import RELAY_BATCH, RELAY_EVENTS
from bench.sizes import APPEND_SIZES, EVENTS_PER_STREAM, READ_SIZES
from bench.view_latency import CITIZENS, VIEW_REQUESTS

PARTS: tuple[Part, ...] = (
    Part("append", "event-store appends: batched, single sequential, single concurrent",
         ours=event_store.run_appends, peer=peer_eventsourcing.run_appends, sizes=APPEND_SIZES),
    Part("read", "read the whole log back in batches, as a consumer does",
         ours=event_store.run_read, peer=peer_eventsourcing.run_read, sizes=READ_SIZES),
    Part("projection", "projection catch-up from empty (peer: a plain fold), and rebuild",
         ours=projection_catch_up.run, peer=peer_projection.run, sizes=(PROJECTION_EVENTS,),
         peer_note=peer_projection.NOTE),
    Part("view", "single view and timeline over HTTP: p50, p99 (no peer equivalent)",
         ours=view_latency.run, sizes=(CITIZENS, VIEW_REQUESTS)),
    Part("relay", "outbox relay publishing a log to real Kafka, 1 and 3 brokers (no peer)",
         ours=relay.run, sizes=(RELAY_EVENTS, RELAY_BATCH, EVENTS_PER_STREAM)),
    Part("kafka_projection", "Faust worker consuming the topics, real Kafka, 1 and 3 brokers",
         ours=kafka_projection.run, sizes=(KAFKA_PROJECTION_EVENTS,)),
    Part("matching", "identity matching of new registrations vs a population (no peer)",
         ours=matching.run, sizes=(MATCHING_CITIZENS, MATCHING_REGISTRATIONS)),
    Part("linkage", "identity matching on the FEBRL benchmark (peer: Splink), in memory",
         ours=linkage.run, peer=peer_splink.run, sizes=(LINKAGE_PEOPLE,),
         peer_note=peer_splink.NOTE, missing=linkage.missing),
    Part("http_write", "record case events over HTTP, one client and many: p50, p99 (no peer)",
         ours=http_write.run, sizes=HTTP_WRITE_SIZES, shares=(SHARE_OF_APPEND,)),
    Part("inbound", "charities' systems: signed webhooks over HTTP, CSV import (no peer)",
         ours=inbound.run, sizes=INBOUND_SIZES),
)  # fmt: skip


def part_names() -> list[str]:
    """Return the name of every registered part, in running order."""
    return [part.name for part in PARTS]


def size_options() -> list[SizeOption]:
    """Return every size some part reads, each once, in the order parts declare them."""
    options: dict[str, SizeOption] = {}
    for part in PARTS:
        for option in part.sizes:
            options.setdefault(option.name, option)
    return list(options.values())

"""The sizes the event-store parts share, so ours and the peer do exactly the same work."""

from bench.part import SizeOption

EVENTS = SizeOption("events", 100_000, "events appended in batches, and events read back")
BATCH = SizeOption("batch", 1_000, "events per transaction in batched appends, and per read")
SINGLE_EVENTS = SizeOption(
    "single_events", 5_000, "events appended one per transaction (sequential, and concurrent)"
)
CONCURRENCY = SizeOption("concurrency", 8, "connections appending at once in the concurrent run")
EVENTS_PER_STREAM = SizeOption("events_per_stream", 10, "events in each stream (one case each)")

APPEND_SIZES = (EVENTS, BATCH, SINGLE_EVENTS, CONCURRENCY, EVENTS_PER_STREAM)
READ_SIZES = (EVENTS, BATCH, EVENTS_PER_STREAM)

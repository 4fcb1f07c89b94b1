"""The projection's use cases: projecting batches, identity resolution and stewardship, erasure."""

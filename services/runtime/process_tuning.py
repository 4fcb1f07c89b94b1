"""Process-wide settings for processes that fold many events: fewer garbage collections."""

import gc

# A batch allocates hundreds of thousands of short-lived, acyclic objects (envelopes, payloads,
# view copies) that reference counting frees. With the default gen-0 threshold (700) the
# cyclic collector runs thousands of times per batch for nothing: measured, catch-up ran
# 20-25% faster with this threshold, the same as with the collector off.
BATCH_FRIENDLY_GEN0_THRESHOLD = 100_000


def collect_garbage_less_often() -> None:
    """Raise the cyclic garbage collector's first threshold for batch-folding processes."""
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(BATCH_FRIENDLY_GEN0_THRESHOLD, gen1, gen2)

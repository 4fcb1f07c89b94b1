"""The real Apache Kafka the Kafka parts run on: `caseweave kafka local`'s cluster, started
fresh for each shape (the test suite's `tests/real_kafka.py`: free ports, data in a temporary
directory, no node outliving the run; needs Java 17+ and Maven)."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.real_kafka import RealKafka

# one node; then three, every partition on all three, 2 in sync required (production's shape)
KAFKA_BROKERS = (1, 3)


def cluster_name(brokers: int) -> str:
    """Return how a figure names the cluster it ran on."""
    return "1 broker" if brokers == 1 else f"{brokers} brokers, 3 copies, acks=all"


@contextmanager
def real_kafka(*, brokers: int) -> Iterator["RealKafka"]:
    """Run a fresh local Kafka of `brokers` nodes for the duration of a block."""
    from tests.real_kafka import real_kafka as started  # noqa: PLC0415 - the suite's helper

    with started(brokers=brokers) as kafka:
        yield kafka

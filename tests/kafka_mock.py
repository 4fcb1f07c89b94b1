"""A Kafka-protocol broker for tests: librdkafka's mock cluster, on real localhost TCP ports.

It is started through the librdkafka bundled in the `confluent-kafka` wheel. The mock has no
controller, so admin clients cannot create topics on it: tests create them here, with the
partition counts they need. It is a test double of a broker, not Kafka (see deploy/README.md
for the behaviours to check on a real cluster).

Retention: each mock partition keeps at most 5 MB or 100,000 messages (hard-coded in
librdkafka's mock) and deletes its oldest messages beyond that, moving the partition's start
offset. Tests and benchmarks that need every message spread them over enough partitions
(about 5,000 envelopes of ~900 bytes per partition at most).
"""

import ctypes
import glob
import os
from collections.abc import Iterator
from contextlib import contextmanager

import confluent_kafka

_RD_KAFKA_PRODUCER = 0


def _librdkafka() -> ctypes.CDLL:
    package = os.path.dirname(confluent_kafka.__file__)
    [path] = glob.glob(os.path.join(package, os.pardir, "confluent_kafka.libs", "librdkafka*.so*"))
    lib = ctypes.CDLL(path)
    lib.rd_kafka_conf_new.restype = ctypes.c_void_p
    lib.rd_kafka_new.restype = ctypes.c_void_p
    lib.rd_kafka_new.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.rd_kafka_mock_cluster_new.restype = ctypes.c_void_p
    lib.rd_kafka_mock_cluster_new.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.rd_kafka_mock_cluster_bootstraps.restype = ctypes.c_char_p
    lib.rd_kafka_mock_cluster_bootstraps.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_mock_topic_create.restype = ctypes.c_int
    lib.rd_kafka_mock_topic_create.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_int,
    ]
    lib.rd_kafka_conf_set.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_size_t,
    ]
    lib.rd_kafka_mock_group_initial_rebalance_delay_ms.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.rd_kafka_mock_cluster_destroy.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_destroy.argtypes = [ctypes.c_void_p]
    return lib


class MockKafka:
    """A running mock cluster: its bootstrap servers, and topic creation with partition counts."""

    def __init__(self, brokers: int = 1) -> None:
        self._lib = _librdkafka()
        errors = ctypes.create_string_buffer(512)
        conf = self._lib.rd_kafka_conf_new()
        # the client only hosts the cluster: it connects nowhere, so silence its warning
        self._lib.rd_kafka_conf_set(conf, b"log_level", b"3", errors, len(errors))
        self._client = self._lib.rd_kafka_new(_RD_KAFKA_PRODUCER, conf, errors, len(errors))
        if not self._client:
            raise RuntimeError(f"librdkafka: {errors.value.decode()}")
        self._cluster = self._lib.rd_kafka_mock_cluster_new(self._client, brokers)
        self.bootstrap_servers: str = self._lib.rd_kafka_mock_cluster_bootstraps(
            self._cluster
        ).decode()
        # a new consumer group otherwise waits 3 s for members before its first assignment
        self._lib.rd_kafka_mock_group_initial_rebalance_delay_ms(self._cluster, 0)

    def create_topic(self, name: str, *, partitions: int = 1, replication: int = 1) -> None:
        """Create a topic (the mock's admin API cannot: it has no controller)."""
        error = self._lib.rd_kafka_mock_topic_create(
            self._cluster, name.encode(), partitions, replication
        )
        if error:
            raise RuntimeError(f"librdkafka could not create topic {name}: error {error}")

    def close(self) -> None:
        """Stop the cluster and its client."""
        self._lib.rd_kafka_mock_cluster_destroy(self._cluster)
        self._lib.rd_kafka_destroy(self._client)


@contextmanager
def mock_kafka(brokers: int = 1) -> Iterator[MockKafka]:
    """Run a mock Kafka cluster for the duration of a block."""
    cluster = MockKafka(brokers)
    try:
        yield cluster
    finally:
        cluster.close()

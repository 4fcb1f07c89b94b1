"""Which Kafka topic carries which organisation's events."""

from events.envelope import OrgId

TOPIC_VERSION = 1


def events_topic(org: OrgId) -> str:
    """Return the topic an organisation's events are published to."""
    return f"caseweave.{org}.events.v{TOPIC_VERSION}"

"""In Kafka mode an organisation service publishes what it records to its own topic."""

import asyncio
import json
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from services.organisation.bootstrap import create_sector_app
from services.runtime.api_keys import ApiKeyStore
from services.runtime.database import Pool
from services.runtime.kafka.publisher import TopicMissing
from services.runtime.kafka.topics import events_topic, wanted_topics
from services.runtime.settings import Settings
from tests.integration.organisation.running_services import unique_schemas
from tests.integration.organisation.sample_requests import a_person
from tests.real_kafka import RealKafka, real_kafka


async def _first_message_keyed(
    bootstrap: str, topic: str, key: bytes
) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id="test-reader", auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            while True:
                for messages in (await consumer.getmany(timeout_ms=500)).values():
                    for message in messages:
                        if message.key == key:
                            return json.loads(message.value), list(message.headers)
    finally:
        await consumer.stop()


async def test_a_registration_reaches_the_organisations_topic_keyed_by_person(
    database_url: str, pool: Pool
) -> None:
    """POST /v1/people in Kafka mode: person.registered is published, keyed by the person id."""
    with real_kafka() as kafka:
        for topic in wanted_topics(Settings(kafka_partitions=3)):
            kafka.create_topic(topic.name, partitions=topic.partitions)
        app = create_sector_app(
            sector="housing",
            database_url=database_url,
            schemas=unique_schemas(),
            pool_size=6,
            kafka_bootstrap_servers=kafka.bootstrap_servers,
        )
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://h"
            ) as client,
        ):
            key = await ApiKeyStore(pool).issue(org="housing", role="frontline")
            created = await client.post(
                "/v1/people", json=a_person(), headers={"Authorization": f"Bearer {key}"}
            )
            assert created.status_code == 201, created.text
            person_id = created.json()["person_id"]
            value, headers = await _first_message_keyed(
                kafka.bootstrap_servers, events_topic("housing"), person_id.encode()
            )
    assert value["type"] == "person.registered"
    assert value["data"]["person_id"] == person_id
    assert ("event_type", b"person.registered") in headers


async def test_a_service_in_kafka_mode_will_not_start_without_its_topic(
    database_url: str, kafka: RealKafka
) -> None:
    """Topics are never created by producing: the service refuses to start and says why (the
    run's shared cluster holds no topic of the production names)."""
    app = create_sector_app(
        sector="voluntary",
        database_url=database_url,
        schemas=unique_schemas(),
        pool_size=6,
        kafka_bootstrap_servers=kafka.bootstrap_servers,
    )
    with pytest.raises(TopicMissing, match="caseweave kafka topics create"):
        async with app.router.lifespan_context(app):
            pass

"""The projection's metrics: its lag in each log, its batch time, reads by route template."""

from events.envelope import Envelope
from events.organisations import DEFAULT_ORGANISATIONS
from services.projection.adapters.read_model_schema import CONSUMER
from services.projection.service_layer.kafka_projection import KafkaProjection
from services.runtime.consumer_lag import LogLag
from services.runtime.kafka.consumed import ConsumedMessage
from services.runtime.kafka.topics import events_topic
from services.runtime.metrics import exposition
from tests.factories import an_envelope
from tests.fake_publisher import PublishedInMemory
from tests.integration.projection.conftest import ID_SECRET, Organisations
from tests.integration.projection.reading import citizen_of, key_of, projection_api
from tests.scraped_metrics import sample
from tests.unit.projection.factories import NHS_NUMBER, PersonAt, details, minutes
from tests.unit.projection.stories import three_organisations_story

DEAD_LETTERS = "caseweave_dead_letters_total"
BATCHES = "caseweave_projection_batch_seconds_count"
CITIZEN_ROUTE = {"service": "projection", "method": "GET", "route": "/v1/citizens/{citizen_id}"}


async def _scraped() -> str:
    """Return this test process's metrics page."""
    return (await exposition()).decode()


def _citizen_reads(page: str) -> float:
    return sample(page, "caseweave_http_requests_total", **CITIZEN_ROUTE, status="200") or 0.0


async def test_the_lag_is_the_events_after_the_checkpoint_in_each_log(orgs: Organisations) -> None:
    """Every recorded event counts until the projection has applied it; then none do."""
    story = three_organisations_story()
    await orgs.record([e for log in story.values() for e in log])
    lag = LogLag(orgs.pool, schema=orgs.schema, consumer=CONSUMER, logs=orgs.sources)

    assert await lag.events_behind() == {org: len(story[org]) for org in DEFAULT_ORGANISATIONS.ids}
    await orgs.catch_up()
    assert await lag.events_behind() == dict.fromkeys(DEFAULT_ORGANISATIONS.ids, 0)


async def test_batches_are_timed_and_a_view_read_is_counted_without_the_citizen_id(
    orgs: Organisations, database_url: str
) -> None:
    """Consuming the story times its batches; a read of the view counts under the template."""
    before = sample(await _scraped(), BATCHES, transport="postgres") or 0.0
    story = three_organisations_story()
    await orgs.record(
        sorted((e for log in story.values() for e in log), key=Envelope.occurred_sort_key)
    )
    await orgs.catch_up()
    assert (sample(await _scraped(), BATCHES, transport="postgres") or 0.0) > before

    async with projection_api(orgs, database_url) as api:
        headers = await key_of(orgs, "housing")
        citizen = await citizen_of(api, headers)
        reads_before = _citizen_reads(await _scraped())
        assert (await api.get(f"/v1/citizens/{citizen}", headers=headers)).status_code == 200
        page = (await api.get("/metrics")).text

    assert _citizen_reads(page) == reads_before + 1
    assert citizen not in page
    assert NHS_NUMBER not in page


async def test_a_poison_message_counts_once_as_a_dead_letter_with_its_reason(
    orgs: Organisations,
) -> None:
    """Set aside on Kafka: counted by consumer and reason; its redelivery is not counted again."""
    dead_letters = PublishedInMemory()
    projection = KafkaProjection(orgs.pool, dead_letters, id_secret=ID_SECRET, schema=orgs.schema)
    poison = ConsumedMessage(events_topic("housing"), 0, 0, b"person", b"", ())
    labels = {"consumer": "projection", "reason": "invalid_envelope"}
    batches = {"transport": "kafka"}
    page = await _scraped()
    before = [sample(page, DEAD_LETTERS, **labels) or 0.0, sample(page, BATCHES, **batches) or 0.0]

    await projection.apply_once([poison])
    await projection.apply_once([poison])

    page = await _scraped()
    assert sample(page, DEAD_LETTERS, **labels) == before[0] + 1
    assert len(dead_letters.sent) == 1
    assert sample(page, BATCHES, **batches) == before[1] + 2


async def test_an_event_parked_in_embedded_mode_counts_as_a_dead_letter(
    orgs: Organisations,
) -> None:
    """Parked beside the PostgreSQL logs: counted by consumer and reason, like Kafka's."""
    housing = PersonAt("housing")
    unknown = an_envelope(org="housing", subject=housing.subject, type_="housing.from_the_future")
    labels = {"consumer": "projection", "reason": "unknown_event_type"}
    before = sample(await _scraped(), DEAD_LETTERS, **labels) or 0.0

    await orgs.record([housing.registered(minutes(0), details()), unknown])
    await orgs.catch_up()

    assert sample(await _scraped(), DEAD_LETTERS, **labels) == before + 1

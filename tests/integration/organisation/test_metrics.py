"""An organisation service's /metrics: requests by route template, events appended, inbox lag."""

from services.organisation.entrypoints.kafka_referral_inbox import KafkaReferralInbox
from services.runtime.kafka.consumed import ConsumedMessage
from services.runtime.kafka.messages import EVENT_TYPE
from services.runtime.kafka.topics import events_topic
from tests.fake_publisher import PublishedInMemory
from tests.integration.organisation.running_services import (
    RunningService,
    a_fresh_nhs_number,
    eventually,
)
from tests.integration.organisation.sample_requests import a_received_referral, registered
from tests.scraped_metrics import sample

READ_ROUTE = {"service": "housing", "method": "GET", "route": "/v1/people/{person_id}"}


async def _metrics(service: RunningService) -> str:
    """Scrape the service as Prometheus does: no API key."""
    page = await service.client.get("/metrics")
    assert page.status_code == 200
    return page.text


async def test_a_read_is_counted_under_its_route_template_and_never_its_id(
    housing: RunningService,
) -> None:
    """The person's id and NHS number appear nowhere; the template's counter moves by one."""
    nhs_number = a_fresh_nhs_number()
    person_id = await registered(housing, nhs_number=nhs_number)
    before = await _metrics(housing)

    assert (await housing.get(f"/v1/people/{person_id}")).status_code == 200
    after = await _metrics(housing)

    counted = [
        sample(page, "caseweave_http_requests_total", **READ_ROUTE, status="200") or 0.0
        for page in (before, after)
    ]
    assert counted[1] - counted[0] == 1
    timed = sample(after, "caseweave_http_request_duration_seconds_count", **READ_ROUTE)
    assert timed is not None
    assert timed >= 1
    assert person_id not in after
    assert nhs_number not in after


async def test_a_registration_counts_one_event_appended_for_the_organisation(
    housing: RunningService,
) -> None:
    before = sample(await _metrics(housing), "caseweave_events_appended_total", org="housing")
    await registered(housing)
    after = sample(await _metrics(housing), "caseweave_events_appended_total", org="housing")
    assert (after or 0.0) - (before or 0.0) == 1


async def test_the_referral_inbox_reports_no_lag_once_it_has_received_a_referral(
    housing: RunningService, voluntary: RunningService
) -> None:
    """The voluntary sector's inbox lag in housing's log is exported and drops to nothing."""
    await a_received_referral(housing, voluntary)
    lag = {"consumer": "voluntary_referral_inbox", "partition": ""}

    async def caught_up() -> str | None:
        page = await _metrics(voluntary)
        behind = sample(page, "caseweave_consumer_lag_events", **lag, source="housing")
        return page if behind == 0 else None

    page = await eventually(caught_up)
    assert sample(page, "caseweave_consumer_lag_events", **lag, source="mental_health") == 0


async def test_a_referral_the_kafka_inbox_cannot_read_counts_once_as_a_dead_letter(
    housing: RunningService,
) -> None:
    """Counted by consumer and reason when set aside; its redelivery is not counted again."""
    dead_letters = PublishedInMemory()
    inbox = KafkaReferralInbox(
        housing.pool,
        housing.served.stores,
        dead_letters,  # the dead-letter topic, faked: the Kafka consumer is never started
        schema=housing.schema,
        bootstrap_servers="unused:9092",
        topics=[events_topic("voluntary")],
    )
    headers = ((EVENT_TYPE, b"referral.made"),)
    poison = ConsumedMessage(events_topic("voluntary"), 0, 0, b"person", b"{}", headers)
    labels = {"consumer": "housing_referral_inbox", "reason": "invalid_envelope"}
    before = sample(await _metrics(housing), "caseweave_dead_letters_total", **labels) or 0.0

    await inbox.handle([poison])
    await inbox.handle([poison])

    after = sample(await _metrics(housing), "caseweave_dead_letters_total", **labels)
    assert after == before + 1
    assert len(dead_letters.sent) == 1

"""The projection worker follows the organisations' logs as they grow, until told to stop."""

import asyncio

from tests.integration.projection.conftest import Organisations, eventually
from tests.unit.projection.factories import NHS_NUMBER
from tests.unit.projection.stories import three_organisations_story


async def test_the_worker_shows_new_events_and_stops_when_asked(
    orgs: Organisations, database_url: str
) -> None:
    """A registration, then a referral's acceptance: each appears without a restart."""
    story = three_organisations_story()
    stop = asyncio.Event()
    worker = orgs.start_worker(database_url, stop)
    try:
        await orgs.record(story["housing"])
        [found] = await eventually(
            lambda: orgs.queries().by_nhs_number(NHS_NUMBER), what="the citizen"
        )

        async def accepted() -> bool:
            view = await orgs.queries().citizen_view(found.citizen_id)
            return view is not None and view.referrals[0].status == "accepted"

        await orgs.record([*story["voluntary"], *story["mental_health"]])
        await eventually(accepted, what="the referral to be accepted")
    finally:
        stop.set()
        await asyncio.wait_for(worker, 5)

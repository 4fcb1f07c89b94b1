"""The receiving side's referral inbox: referrals arrive once, for the receiver's own person."""

import uuid

from services.organisation.entrypoints.referral_inbox import ReferralInbox
from services.organisation.service_layer.streams import referral_stream
from services.runtime.subscription import catch_up
from tests.integration.organisation.running_services import (
    KEY_WORKER,
    RunningService,
    a_fresh_nhs_number,
)
from tests.integration.organisation.sample_requests import (
    PERSON,
    a_housing_referral,
    a_received_referral,
    received_by,
)


async def test_a_referral_reaches_the_receivers_inbox_with_the_person_registered_there(
    housing: RunningService, voluntary: RunningService
) -> None:
    """Voluntary gets the referral for its own person, registered from the referral's details."""
    housing_person, made = await a_housing_referral(housing)
    assert made.status_code == 201
    referral_id = made.json()["referral_id"]
    sent = (await housing.get(f"/v1/referrals/{referral_id}")).json()
    assert (sent["status"], sent["from_org"], sent["to_org"]) == ("made", "housing", "voluntary")

    received = await received_by(voluntary, referral_id)
    assert (received["status"], received["from_org"], received["urgency"]) == (
        "received",
        "housing",
        "urgent",
    )
    assert received["person_id"] != housing_person
    person = (await voluntary.get(f"/v1/people/{received['person_id']}")).json()
    assert (person["given_name"], person["local_id"], person["place"]) == (
        "Alex",
        None,
        "E05010892",
    )


async def test_received_events_name_the_referral_as_their_cause(
    housing: RunningService, voluntary: RunningService
) -> None:
    """The inbox's events carry the referral's correlation id and are caused by referral.made."""
    _, made = await a_housing_referral(housing)
    referral_id = made.json()["referral_id"]
    await received_by(voluntary, referral_id)
    source = await voluntary.pool.fetchval(
        f"SELECT event_id FROM {housing.schema}.events WHERE stream_id = $1",  # noqa: S608 - test schema
        referral_stream(uuid.UUID(referral_id)),
    )
    rows = await voluntary.pool.fetch(
        f"SELECT type, correlation_id, causation_id, actor FROM {voluntary.schema}.events"  # noqa: S608 - test schema
        " WHERE causation_id = $1 ORDER BY position",
        str(source),
    )
    assert [r["type"] for r in rows] == ["person.registered", "referral.received"]
    assert {r["correlation_id"] for r in rows} == {"4242a0b1-0000-4000-8000-000000000042"}
    assert {r["actor"] for r in rows} == {"voluntary/referral_inbox"}


async def test_a_person_the_receiver_knows_by_nhs_number_is_not_registered_again(
    housing: RunningService, voluntary: RunningService
) -> None:
    """If voluntary already has the NHS number, the referral is recorded against that person."""
    nhs_number = a_fresh_nhs_number()
    known = await voluntary.post("/v1/people", {**PERSON, "nhs_number": nhs_number})
    _, made = await a_housing_referral(housing, nhs_number=nhs_number)
    received = await received_by(voluntary, made.json()["referral_id"])
    assert received["person_id"] == known.json()["person_id"]


async def test_redelivered_referrals_write_nothing_new(
    housing: RunningService, voluntary: RunningService
) -> None:
    """With its checkpoint reset, the inbox reads every referral again and writes no event."""
    referral_id = (await a_received_referral(housing, voluntary))["referral_id"]
    await voluntary.post(f"/v1/referrals/{referral_id}/accept", {"key_worker": KEY_WORKER})
    before = await voluntary.count_events()
    inbox: ReferralInbox = voluntary.served.referral_inbox
    sources = voluntary.served.referral_sources
    async with voluntary.pool.acquire() as conn:
        await inbox.checkpoints.reset(conn)
    await catch_up(inbox, sources)
    assert await voluntary.count_events() == before

    stores = voluntary.served.stores
    replay = ReferralInbox(voluntary.pool, stores, schema=voluntary.schema, consumer="replay")
    assert await catch_up(replay, sources) == await housing.count_events()
    assert await voluntary.count_events() == before
    after = (await voluntary.get(f"/v1/referrals/{referral_id}")).json()
    assert after["status"] == "accepted"

"""Erasure by crypto-shredding, tried the way someone would try to get the person back.

The story's three organisations write with a key store: every personal value is sealed
with the person's key as it is stored. Erasing the citizen shreds the keys and purges the
projection; the events stay, unreadable, and a replay must not rebuild the person while
the counts of what happened (statistics) stay exactly the same.
"""

import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from events.identity import IdentityLinked, RecordRef
from events.inbound import MessageQuarantined
from events.shared import referred_person_id
from services.cli.audit import export_alerts
from services.organisation.adapters.people_table import people_ddl
from services.projection.adapters.break_glass import BreakGlass
from services.projection.bootstrap import rebuild_projection
from services.projection.service_layer.erasure import Erased, erase_citizen
from services.projection.service_layer.rebuild import start_or_resume, switch_to_next
from services.projection.service_layer.stewardship import (
    DecisionRequest,
    IdentityStewardship,
    SharesNhsNumber,
)
from services.runtime.api_keys import Caller
from services.runtime.database import Pool, apply_ddl
from services.runtime.event_store import EventStore
from services.runtime.person_keys import (
    KeyUnreadable,
    MasterKeyWrong,
    PersonKeys,
    RecordErased,
    person_keys_ddl,
)
from services.runtime.search_keys import local_id_token, people_search_key
from tests.integration.projection.conftest import ID_SECRET, Organisations, new_organisations
from tests.integration.projection.reading import key_of, projection_api, story_order
from tests.unit.projection.factories import NHS_NUMBER, PersonAt, details, minutes, recorded
from tests.unit.projection.stories import three_organisations_story

OTHER_NHS_NUMBER = "4010232137"


@dataclass(frozen=True)
class Sealed:
    """Organisations writing through a key store; David's records and Ann's."""

    orgs: Organisations
    keys: PersonKeys
    david: list[PersonAt]
    ann: PersonAt


@pytest.fixture
async def sealed(pool: Pool, unique_schema: Callable[[str], str]) -> Sealed:
    """David's story at three organisations and Ann at housing, sealed and projected."""
    keys = PersonKeys(os.urandom(32), schema=unique_schema("keys"))  # a key store of its own
    await apply_ddl(pool, lock_name=keys.schema, statements=person_keys_ddl(keys.schema))
    orgs = await new_organisations(pool, unique_schema, keys=keys)
    for schema in orgs.sources.values():  # each organisation's NHS number lookup
        await apply_ddl(pool, lock_name=schema, statements=people_ddl(schema))
    logs = three_organisations_story()
    david = [PersonAt(org, UUID(log[0].subject)) for org, log in logs.items()]
    ann = PersonAt("housing")
    ann_details = details(nhs_number=OTHER_NHS_NUMBER, given_name="Ann")
    story = sorted((e for log in logs.values() for e in log), key=story_order)
    await orgs.record([*story, ann.registered(minutes(50), ann_details)])
    await orgs.catch_up()
    return Sealed(orgs, keys, david, ann)


async def _citizen(orgs: Organisations, nhs_number: str = NHS_NUMBER) -> UUID:
    [found] = await orgs.queries().by_nhs_number(nhs_number)
    return found.citizen_id


async def _statistics(orgs: Organisations) -> list[tuple[str, str, int]]:
    rows = await orgs.pool.fetch(
        f"SELECT org, type, count(*) AS n FROM {orgs.schema}.timeline"  # noqa: S608
        " GROUP BY org, type ORDER BY org, type"
    )
    return [(row["org"], row["type"], row["n"]) for row in rows]


async def _identity_rows_left(sealed: Sealed) -> dict[str, int]:
    """Return how many rows identity resolution still keeps about David, per table."""
    left = {}
    for table in ("person_links", "registrations", "blocking_keys"):
        left[table] = await sealed.orgs.pool.fetchval(
            f"SELECT count(*) FROM {sealed.orgs.schema}.{table}"  # noqa: S608
            " WHERE person_id = ANY($1::text[])",
            [p.subject for p in sealed.david],
        )
    return {table: rows for table, rows in left.items() if rows}


async def _erase(sealed: Sealed, citizen: UUID) -> Erased | None:
    return await erase_citizen(
        sealed.orgs.pool, citizen, keys=sealed.keys, org_schemas=sealed.orgs.sources,
        schema=sealed.orgs.schema,
    )  # fmt: skip


async def test_personal_values_are_sealed_where_they_are_stored(sealed: Sealed) -> None:
    orgs = sealed.orgs
    stored = await orgs.pool.fetch(
        f"SELECT type, data::text AS data FROM {orgs.sources['housing']}.events"  # noqa: S608
    )
    registration = next(row["data"] for row in stored if row["type"] == "person.registered")
    assert "$sealed" in registration
    assert "Smith" not in registration
    assert NHS_NUMBER not in registration
    referral = next(row["data"] for row in stored if row["type"] == "referral.made")
    assert '"to_org": "voluntary"' in referral  # where it goes stays readable
    assert "food and benefits" not in referral  # why, and who, do not
    timeline = await orgs.pool.fetchval(
        f"SELECT string_agg(envelope::text, ' ') FROM {orgs.schema}.timeline"  # noqa: S608
    )
    assert "Smith" not in timeline
    citizen = await _citizen(orgs)  # the projection reads them with the keys
    view = await orgs.queries().citizen_view(citizen)
    assert view is not None
    assert view.identity.family_name is not None
    assert view.identity.family_name.value == "Smith"
    page = await orgs.queries().timeline(citizen, limit=100, offset=0)
    assert page is not None
    registered = next(e for e in page.events if e.type == "person.registered")
    assert registered.data["details"]["family_name"] == "Smith"


async def test_an_erased_person_is_gone_and_a_replay_does_not_bring_them_back(
    sealed: Sealed,
) -> None:
    orgs = sealed.orgs
    citizen = await _citizen(orgs)
    before = await _statistics(orgs)
    erased = await _erase(sealed, citizen)
    assert erased is not None
    assert erased.records == 3

    assert await orgs.queries().citizen_view(citizen) is None
    assert await orgs.queries().by_nhs_number(NHS_NUMBER) == []
    assert await _identity_rows_left(sealed) == {}
    housing = EventStore(orgs.sources["housing"], keys=sealed.keys)
    async with orgs.pool.acquire() as conn:  # the organisation's own stream reads as empty
        assert await housing.read_stream(conn, f"person-{sealed.david[0].subject}") == []

    await rebuild_projection(
        pool=orgs.pool, sources=orgs.sources, schema=orgs.schema, id_secret=ID_SECRET,
        keys=sealed.keys,
    )  # fmt: skip
    assert await orgs.queries().by_nhs_number(NHS_NUMBER) == []
    assert await orgs.queries().citizen_view(citizen) is None
    assert await _statistics(orgs) == before  # what happened still counts
    ann = await orgs.queries().citizen_view(await _citizen(orgs, OTHER_NHS_NUMBER))
    assert ann is not None  # nobody else is touched
    assert ann.identity.given_name is not None
    assert ann.identity.given_name.value == "Ann"


async def test_an_erasure_made_during_a_replay_holds_after_its_switch(sealed: Sealed) -> None:
    """The version being rebuilt had folded David before he was erased on the live view:
    the switch purges him from it too, and leaves Ann as she was."""
    orgs = sealed.orgs
    citizen = await _citizen(orgs)
    rebuilding = await start_or_resume(orgs.pool, orgs.schema, keys=sealed.keys)
    built = orgs.consumer(rebuilding.versions.next, decisions_schema=rebuilding.decisions_schema)
    await orgs.catch_up(built)
    assert await orgs.queries(rebuilding.versions.next).citizen_view(citizen) is not None
    await _erase(sealed, citizen)

    await switch_to_next(orgs.pool, rebuilding, id_secret=ID_SECRET, keys=sealed.keys)

    assert await orgs.queries().by_nhs_number(NHS_NUMBER) == []
    assert await orgs.queries().citizen_view(citizen) is None
    assert await _identity_rows_left(sealed) == {}
    ann = await orgs.queries().citizen_view(await _citizen(orgs, OTHER_NHS_NUMBER))
    assert ann is not None
    assert ann.identity.given_name is not None
    assert ann.identity.given_name.value == "Ann"


async def test_an_erased_person_takes_no_new_personal_data(sealed: Sealed) -> None:
    await _erase(sealed, await _citizen(sealed.orgs))
    health = next(p for p in sealed.david if p.org == "mental_health")
    late = health.registered(minutes(90), details(given_name="Dave"))
    with pytest.raises(RecordErased):
        await sealed.orgs.record([late])
    await sealed.orgs.catch_up()
    assert await sealed.orgs.queries().by_nhs_number(NHS_NUMBER) == []
    assert await _erase(sealed, await _citizen(sealed.orgs, OTHER_NHS_NUMBER)) is not None


async def test_a_wrong_master_key_opens_nothing_and_is_refused(sealed: Sealed) -> None:
    stranger = PersonKeys(os.urandom(32), schema=sealed.keys.schema)
    async with sealed.orgs.pool.acquire() as conn:
        await sealed.keys.verify(conn)  # the store's own master key: its canary
        with pytest.raises(MasterKeyWrong):
            await stranger.verify(conn)
        records = [(p.org, p.subject) for p in sealed.david]
        unreadable = await stranger.for_reading(conn, records)
        assert set(unreadable.values()) == {b""}  # there, but unreadable (and logged)
        with pytest.raises(KeyUnreadable):  # and nothing is written under a wrong key
            await stranger.for_writing(conn, records)


async def test_a_record_the_projection_has_not_linked_yet_is_erased_too(sealed: Sealed) -> None:
    """The charity registered David again (same NHS number) just before the erasure, and the
    projection had not read it yet: the erasure finds it by its NHS number all the same."""
    orgs = sealed.orgs
    again = PersonAt("voluntary")
    await orgs.record([again.registered(minutes(60), details(given_name="Davey"))])
    await orgs.pool.execute(  # as the charity's service keeps it
        f"INSERT INTO {orgs.sources['voluntary']}.people (person_id, nhs_number)"  # noqa: S608
        " VALUES ($1, $2)",
        again.person_id,
        NHS_NUMBER,
    )
    erased = await _erase(sealed, await _citizen(orgs))
    assert erased is not None
    assert erased.records == 4
    await orgs.catch_up()
    assert await orgs.queries().by_nhs_number(NHS_NUMBER) == []


async def test_values_stored_before_sealing_are_erased_in_place(sealed: Sealed) -> None:
    """Ann was registered before sealing existed: her details lie in clear in the store and
    the timeline until she is erased, and nowhere after."""
    orgs = sealed.orgs
    before = PersonAt("housing")
    old_details = details(nhs_number="9000000009", given_name="Zelda", family_name="Quayle")
    unsealed = EventStore(orgs.sources["housing"])  # a store from before sealing
    async with orgs.pool.acquire() as conn:
        await unsealed.append(
            conn, stream_id=f"person-{before.subject}", expected_version=0,
            events=[before.registered(minutes(1), old_details)],
        )  # fmt: skip
    await orgs.catch_up()
    assert await _held_in_clear(orgs, "Quayle") == 2  # the store and the timeline

    assert await _erase(sealed, await _citizen(orgs, "9000000009")) is not None
    assert await _held_in_clear(orgs, "Quayle") == 0
    data = await orgs.pool.fetchval(
        f"SELECT data FROM {orgs.sources['housing']}.events WHERE subject = $1",  # noqa: S608
        before.subject,
    )
    assert data == {"person_id": before.subject, "details": {"$erased": True}}
    assert await orgs.queries().by_nhs_number("9000000009") == []


async def test_the_audit_trail_stays_but_not_under_an_id_that_comes_back(sealed: Sealed) -> None:
    """Who read David's record stays in the access log, under the erasure's id: the citizen
    id an NHS number gives would otherwise hand it to the next person registered with it."""
    orgs = sealed.orgs
    citizen = await _citizen(orgs)
    audit = f"{orgs.schema}_audit"
    await orgs.pool.execute(
        f"INSERT INTO {audit}.access_log (citizen_id, viewer_org, viewer_role, key_id,"  # noqa: S608
        " read_kind, categories, purpose, correlation_id)"
        " VALUES ($1, 'housing', 'frontline', 'k1', 'view', '{}', 'direct_care', 'c1')",
        citizen,
    )
    glass = BreakGlass(orgs.pool, schema=audit, read_model=orgs.schema, lasts=timedelta(hours=1))
    charity = Caller(key_id="k2", org="voluntary", role="frontline")
    await glass.grant(
        citizen, caller=charity, reason="collapsed in the street", correlation_id="c2",
        now=datetime.now(UTC),
    )  # fmt: skip
    erased = await _erase(sealed, citizen)
    assert erased is not None
    kept = await orgs.pool.fetch(
        f"SELECT citizen_id FROM {audit}.access_log WHERE key_id = 'k1'"  # noqa: S608
    )
    assert [row["citizen_id"] for row in kept] == [erased.erasure_id]
    [alert] = await glass.alerts(after=None, limit=10)
    assert alert.subject == alert.data["citizen_id"] == str(erased.erasure_id)
    assert await glass.of_citizen(citizen) == []


async def test_an_erasure_is_applied_again_after_the_keys_are_restored(sealed: Sealed) -> None:
    orgs = sealed.orgs
    keys_table = f"{sealed.keys.schema}.person_keys"
    saved = await orgs.pool.fetch(f"SELECT org, person_id, wrapped FROM {keys_table}")  # noqa: S608
    assert await _erase(sealed, await _citizen(orgs)) is not None
    for row in saved:  # a backup of the keys from before the erasure is restored
        await orgs.pool.execute(
            f"UPDATE {keys_table} SET wrapped = $3, erased_at = NULL"  # noqa: S608
            " WHERE org = $1 AND person_id = $2",
            row["org"], row["person_id"], row["wrapped"],
        )  # fmt: skip
    async with orgs.pool.acquire() as conn:
        # David's three records, and the receiver's own copy of his details in the
        # referral made about him (a held referral's key: shredded with him too)
        assert await sealed.keys.erase_again(conn) == 4
        opened = await sealed.keys.for_reading(conn, [(p.org, p.subject) for p in sealed.david])
    assert set(opened.values()) == {None}


async def _held_in_clear(orgs: Organisations, text: str) -> int:
    found = 0
    for schema in orgs.sources.values():
        found += await orgs.pool.fetchval(
            f"SELECT count(*) FROM {schema}.events WHERE data::text LIKE $1",  # noqa: S608
            f"%{text}%",
        )
    found += await orgs.pool.fetchval(
        f"SELECT count(*) FROM {orgs.schema}.timeline WHERE envelope::text LIKE $1",  # noqa: S608
        f"%{text}%",
    )
    return int(found)


async def test_a_record_holding_his_nhs_number_cannot_be_kept_apart_and_is_erased_with_him(
    sealed: Sealed,
) -> None:
    """A steward may not split the charity's record of David off while it holds his NHS
    number (one number, one citizen), so erasing David erases it too."""
    orgs = sealed.orgs
    david = await _citizen(orgs)
    charity = next(p for p in sealed.david if p.org == "voluntary")
    stewardship = IdentityStewardship(orgs.units(), id_secret=ID_SECRET)
    steward = Caller(key_id="s1", org="voluntary", role="data_steward")
    with pytest.raises(SharesNhsNumber):
        await stewardship.unlink(
            david, RecordRef(org="voluntary", person_id=charity.person_id),
            reason="a different Davey", by=DecisionRequest(caller=steward, correlation_id="c3"),
        )  # fmt: skip
    erased = await _erase(sealed, david)
    assert erased is not None
    assert erased.records == 3
    assert await orgs.queries().citizen_view(david) is None


async def _replay(sealed: Sealed) -> None:
    await rebuild_projection(
        pool=sealed.orgs.pool, sources=sealed.orgs.sources, schema=sealed.orgs.schema,
        id_secret=ID_SECRET, keys=sealed.keys,
    )  # fmt: skip


async def _audit_in_clear(orgs: Organisations, text: str) -> int:
    found = await orgs.pool.fetchval(
        f"SELECT (SELECT count(*) FROM {orgs.schema}_audit.break_glass b"  # noqa: S608
        f"  WHERE b::text LIKE $1) + (SELECT count(*) FROM {orgs.schema}_audit.access_log a"
        "  WHERE a::text LIKE $1)",
        f"%{text}%",
    )
    return int(found)


async def test_a_break_glass_reason_naming_the_person_goes_with_them_and_the_alert_stays(
    sealed: Sealed, database_url: str
) -> None:
    """The charity breaks the glass on Ann with a reason naming her; once she is erased
    (and the projection replayed) the IG leads' alerts, by API and by `caseweave audit
    alerts`, still say who opened whose record and when, and nothing of what they wrote."""
    orgs = sealed.orgs
    async with projection_api(orgs, database_url, keys=sealed.keys) as api:
        charity = await key_of(orgs, "voluntary")
        lead = await key_of(orgs, "voluntary", "ig_lead")
        found = await api.get(
            "/v1/citizens", params={"nhs_number": OTHER_NHS_NUMBER}, headers=charity
        )
        citizen = found.json()["citizens"][0]["citizen_id"]
        emergency = {"reason": "Ann Example fell at 4 Elm Road, needs her care plan"}
        opened = await api.post(
            f"/v1/citizens/{citizen}/break-glass", json=emergency, headers=charity
        )
        assert opened.status_code == 201
        [before] = (await api.get("/v1/ig/break-glass", headers=lead)).json()["grants"]
        assert (before["reason"], before["reason_erased"]) == (emergency["reason"], False)
        assert await _audit_in_clear(orgs, "Elm Road") == 0  # sealed where it is kept

        erased = await _erase(sealed, UUID(citizen))
        assert erased is not None
        await _replay(sealed)
        answer = await api.get("/v1/ig/break-glass", headers=lead)
    assert "Elm Road" not in answer.text
    [after] = answer.json()["grants"]
    assert after["grant_id"] == opened.json()["grant_id"]  # the alert itself stays
    assert (after["viewer_org"], after["key_id"]) == ("voluntary", opened.json()["key_id"])
    assert after["citizen_id"] == str(erased.erasure_id)
    assert (after["reason"], after["reason_erased"]) == ("(erased with the person)", True)
    out = io.StringIO()
    assert await export_alerts(database_url, out=out, schema=orgs.schema, keys=sealed.keys) == 1
    [alert] = [json.loads(line) for line in out.getvalue().splitlines()]
    assert alert["data"]["reason"] == {"$erased": True}
    assert "Elm Road" not in out.getvalue()
    async with orgs.pool.acquire() as conn:  # and a restored key would open nothing
        [key] = (await sealed.keys.for_reading(conn, [("break_glass", after["grant_id"])])).values()
    assert key is None


async def _correlation_ids_in_clear(orgs: Organisations, text: str) -> int:
    found = await orgs.pool.fetchval(
        f"SELECT count(*) FROM {orgs.sources['housing']}.events WHERE correlation_id LIKE $1",  # noqa: S608
        f"%{text}%",
    )
    found += await orgs.pool.fetchval(
        f"SELECT count(*) FROM {orgs.schema}.timeline"  # noqa: S608
        " WHERE envelope->>'correlation_id' LIKE $1",
        f"%{text}%",
    )
    return int(found)


async def test_a_reason_kept_in_clear_before_sealing_is_erased_in_place(sealed: Sealed) -> None:
    """A grant recorded before reasons were sealed holds the reason in clear (its column and
    its alert event), and correlation ids from before their shape was checked name Ann, until
    she is erased, and nowhere after."""
    orgs = sealed.orgs
    audit = f"{orgs.schema}_audit"
    citizen = await _citizen(orgs, OTHER_NHS_NUMBER)
    unsealed = BreakGlass(orgs.pool, schema=audit, read_model=orgs.schema, lasts=timedelta(1))
    charity = Caller(key_id="k2", org="voluntary", role="frontline")
    await unsealed.grant(
        citizen, caller=charity, reason="Ann Example collapsed at the library",
        correlation_id="Ann Example 4010232137", now=datetime.now(UTC),
    )  # fmt: skip
    await orgs.pool.execute(  # as a grant from before sealing kept it
        f"UPDATE {audit}.break_glass SET reason = event->'data'->>'reason'"  # noqa: S608
    )
    await orgs.pool.execute(
        f"INSERT INTO {audit}.access_log (citizen_id, viewer_org, viewer_role, key_id,"  # noqa: S608
        " read_kind, categories, purpose, correlation_id)"
        " VALUES ($1, 'voluntary', 'frontline', 'k2', 'view', '{}', 'direct_care', $2)",
        citizen,
        "Ann Example 4010232137",
    )
    again = sealed.ann.registered(
        minutes(55), details(nhs_number=OTHER_NHS_NUMBER, given_name="Ann"),
        correlation_id="Ann Example 4010232137",
    )  # fmt: skip
    await orgs.record([again])
    await orgs.catch_up()
    assert await _audit_in_clear(orgs, "Ann Example") == 2
    assert await _correlation_ids_in_clear(orgs, "Ann Example") == 2  # the store, the timeline

    assert await _erase(sealed, citizen) is not None
    assert await _audit_in_clear(orgs, "Ann Example") == 0
    assert await _correlation_ids_in_clear(orgs, "Ann Example") == 0
    [grant] = await unsealed.of_org("voluntary", limit=10, offset=0)
    assert (grant.reason_erased, grant.key_id) == (True, "k2")


async def test_a_stewards_decision_that_stays_loses_its_reason_about_the_erased(
    sealed: Sealed,
) -> None:
    """Stewards joined Carl, Karl and Bea, then split Karl off saying why in words naming
    Bea, then split Bea off. Erasing Bea keeps the decision that still keeps Karl apart from
    Carl, but not its reason, also after a replay."""
    orgs = sealed.orgs
    carl, karl, bea = PersonAt("housing"), PersonAt("housing"), PersonAt("voluntary")
    people = [
        (carl, details(nhs_number=None, given_name="Carl", family_name="Ng")),
        (karl, details(nhs_number=None, given_name="Karl", family_name="Nguyen",
                       date_of_birth=date(1970, 2, 2))),
        (bea, details(nhs_number=None, given_name="Bea", family_name="Quayle",
                      date_of_birth=date(1990, 1, 1))),
    ]  # fmt: skip
    await orgs.record([person.registered(minutes(60), said) for person, said in people])
    await orgs.catch_up()
    stewardship = IdentityStewardship(orgs.units(), id_secret=ID_SECRET)
    housing, charity = (
        DecisionRequest(
            caller=Caller(key_id="s1", org=org, role="data_steward"), correlation_id="c"
        )
        for org in ("housing", "voluntary")
    )
    ref = {p: RecordRef(org=p.org, person_id=p.person_id) for p in (carl, karl, bea)}

    async def citizen_of(person: PersonAt) -> UUID:
        found: UUID = await orgs.pool.fetchval(
            f"SELECT citizen_id FROM {orgs.schema}.person_links WHERE person_id = $1",  # noqa: S608
            person.subject,
        )
        return found

    await stewardship.decide(IdentityLinked(a=ref[carl], b=ref[karl], reason="renamed"), by=housing)
    await stewardship.decide(IdentityLinked(a=ref[carl], b=ref[bea], reason="mix-up"), by=housing)
    await stewardship.decide(IdentityLinked(a=ref[bea], b=ref[carl], reason="agreed"), by=charity)
    await stewardship.unlink(
        await citizen_of(carl), ref[karl],
        reason="Karl is not Carl, Bea Quayle told us", by=housing,
    )  # fmt: skip
    await stewardship.unlink(
        await citizen_of(bea), ref[bea], reason="Bea Quayle is not Carl", by=charity
    )

    assert await _erase(sealed, await citizen_of(bea)) is not None
    await _replay(sealed)
    left = await orgs.pool.fetch(
        f"SELECT envelope FROM {orgs.schema}_decisions.decisions ORDER BY position"  # noqa: S608
    )
    reasons = [row["envelope"]["data"]["reason"] for row in left]
    assert reasons == ["renamed", {"$erased": True}]  # the split of Karl still holds
    assert "Quayle" not in str(left)
    assert await citizen_of(karl) != await citizen_of(carl)


async def test_an_erasure_shreds_the_receivers_copy_of_the_details_in_a_referral(
    sealed: Sealed,
) -> None:
    """A receiver that held housing's referral (unsure which of its records it was about)
    keeps the sender's details of the person under the referral's own key: the erasure
    shreds it too, whether a worker chose a record since or not."""
    orgs = sealed.orgs
    made = await orgs.pool.fetchrow(
        f"SELECT data->>'referral_id' AS referral_id, data->>'to_org' AS to_org"  # noqa: S608
        f" FROM {orgs.sources['housing']}.events WHERE type = 'referral.made'"
    )
    assert made is not None
    copy = (made["to_org"], str(referred_person_id(UUID(made["referral_id"]))))
    async with orgs.pool.acquire() as conn:  # the receiver's copy, as a held referral keeps it
        await sealed.keys.for_writing(conn, [copy])
    assert await _erase(sealed, await _citizen(orgs)) is not None
    async with orgs.pool.acquire() as conn:
        assert await sealed.keys.for_reading(conn, [copy]) == {copy: None}
        with pytest.raises(RecordErased):
            await sealed.keys.for_writing(conn, [copy])


async def test_an_erasure_shreds_what_a_charitys_system_sent_about_them_in_quarantine(
    sealed: Sealed,
) -> None:
    """The charity's system sent a message about David that could not be applied (kept in
    quarantine, naming him by the charity's id): erasing him shreds it too."""
    orgs = sealed.orgs
    [charity] = [p for p in sealed.david if p.org == "voluntary"]
    store = orgs.sources["voluntary"]
    await orgs.pool.execute(
        f"INSERT INTO {store}.people (person_id, local_id) VALUES ($1, 'V-DAVID')"  # noqa: S608
        " ON CONFLICT (person_id) DO UPDATE SET local_id = 'V-DAVID'",
        charity.person_id,
    )
    quarantine_id = uuid4()
    token = local_id_token(people_search_key(sealed.keys, "voluntary"), "V-DAVID")
    kept = MessageQuarantined(
        quarantine_id=quarantine_id, source="eastside", message_id="m-1", field="food.type",
        rule="unknown_code", detail="'PIZZA' is not one of: PARCEL",
        message={"client": {"id": "V-DAVID", "note": "David, the one with the dog"}},
        person_token=token,
    )  # fmt: skip
    envelope = recorded(kept, org="voluntary", subject=str(quarantine_id), at=minutes(60))
    async with orgs.pool.acquire() as conn:
        await EventStore(store, keys=sealed.keys).append(
            conn, stream_id=f"quarantine-{quarantine_id}", expected_version=0, events=[envelope]
        )
    assert await _erase(sealed, await _citizen(orgs)) is not None
    async with orgs.pool.acquire() as conn:
        copy = ("voluntary", str(quarantine_id))
        assert await sealed.keys.for_reading(conn, [copy]) == {copy: None}

"""A subject access request: everything held about one person, as one JSON document."""

import io
import json
import os
import pwd
from uuid import UUID, uuid4

import pytest

from events.consent import ConsentWithdrawn
from services.cli.audit import export_access_log
from services.cli.sar import export_subject_access
from tests.integration.projection.conftest import Organisations
from tests.integration.projection.reading import (
    citizen_of,
    key_of,
    projection_api,
    story_order,
)
from tests.unit.projection.factories import PersonAt, minutes
from tests.unit.projection.stories import three_organisations_story


async def test_the_export_holds_every_organisations_records_and_who_read_them(
    orgs: Organisations, database_url: str
) -> None:
    logs = three_organisations_story()
    health = PersonAt("mental_health", UUID(logs["mental_health"][0].subject))
    withdrawal = ConsentWithdrawn(
        person_id=health.person_id, recipients=("housing",), purposes=("direct_care",),
        sources=("mental_health",),
    )  # fmt: skip
    events = sorted((e for log in logs.values() for e in log), key=story_order)
    await orgs.record([*events, health.event(withdrawal, minutes(40))])
    await orgs.catch_up()
    async with projection_api(orgs, database_url) as api:
        housing = await key_of(orgs, "housing")
        citizen = await citizen_of(api, housing)
        await api.get(f"/v1/citizens/{citizen}", headers=housing)  # sees no mental health

    out = io.StringIO()
    counts = await export_subject_access(database_url, UUID(citizen), out=out, schema=orgs.schema)
    document = json.loads(out.getvalue())
    assert counts == {"timeline": 19, "identity_decisions": 0, "access_log": 2, "break_glass": 0}
    assert document["subject_access_request"]["citizen_id"] == citizen
    assert len(document["subject_access_request"]["records"]) == 3
    view = document["single_view"]  # unfiltered: the person is owed all of it
    assert {i["org"] for i in view["involvements"]} == {"housing", "mental_health", "voluntary"}
    assert [c["decision"] for c in view["consents"]] == ["withdrawn"]
    types = [e["type"] for e in document["timeline"]]
    assert "mental_health.crisis_episode_started" in types
    assert types[-1] == "consent.withdrawn"
    assert [a["read_kind"] for a in document["access_log"]] == ["search", "view"]  # oldest first


async def test_an_unknown_citizen_exports_nothing(orgs: Organisations, database_url: str) -> None:
    out = io.StringIO()
    assert await export_subject_access(database_url, uuid4(), out=out, schema=orgs.schema) is None
    assert out.getvalue() == ""


class _BrokenDisk(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError("disk full")


async def test_the_export_is_in_the_persons_access_log_before_it_is_written(
    orgs: Organisations, database_url: str
) -> None:
    """An IG officer exports everything about David: the export is a read of his data, in
    his access log (who, when, why, what kinds of information) even if writing it fails."""
    logs = three_organisations_story()
    await orgs.record(sorted((e for log in logs.values() for e in log), key=story_order))
    await orgs.catch_up()
    async with projection_api(orgs, database_url) as api:
        citizen = await citizen_of(api, await key_of(orgs, "housing"))

    with pytest.raises(OSError, match="disk full"):
        await export_subject_access(
            database_url, UUID(citizen), out=_BrokenDisk(), schema=orgs.schema,
            requested_by="ig.officer@trust",
        )  # fmt: skip
    await export_subject_access(database_url, UUID(citizen), out=io.StringIO(), schema=orgs.schema)
    out = io.StringIO()
    await export_access_log(database_url, out=out, schema=orgs.schema)
    exports = [
        read
        for read in map(json.loads, out.getvalue().splitlines())
        if read["read_kind"] == "subject_access_request"
    ]
    assert [(r["key_id"], r["citizen_id"]) for r in exports] == [
        ("cli:ig.officer@trust", citizen),
        (f"cli:{pwd.getpwuid(os.getuid()).pw_name}", citizen),  # by default, the OS user
    ]
    assert {(r["viewer_org"], r["viewer_role"], r["purpose"]) for r in exports} == {
        ("caseweave", "ig_lead", "subject_access_request")
    }
    assert {"person.identity", "health.crisis", "referral"} <= set(exports[0]["categories"])

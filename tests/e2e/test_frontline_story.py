"""The story from the README, through `caseweave up` and HTTP, as frontline workers live it."""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.system import PERSON, System, running, wait_for

STORY_CORRELATION = (
    "57021000-0000-4000-8000-000000000001"  # the partner app's id for the story's requests
)

NHS_NUMBER = "9434765919"
KEY_WORKER = {"name": "Sam Okafor", "role": "Housing officer", "phone": "0117 000 0000"}


class Worker:
    """A frontline worker's partner app: one organisation's key, talking to the system."""

    def __init__(self, system: System, org: str) -> None:
        self.org, self.system = org, system
        self.headers = {"Authorization": f"Bearer {system.create_key(org)}"}

    def post(
        self, path: str, body: dict[str, Any], service: str | None = None, **headers: str
    ) -> httpx.Response:
        url = f"{self.system.url(service or self.org)}{path}"
        return httpx.post(url, json=body, headers={**self.headers, **headers}, timeout=10)

    def get(self, path: str, service: str) -> httpx.Response:
        return httpx.get(f"{self.system.url(service)}{path}", headers=self.headers, timeout=10)

    def register_and_open_case(self, reason: str) -> tuple[str, str]:
        """Register the person and open a case; return (person id, case id)."""
        person = self.post("/v1/people", PERSON)
        assert person.status_code == 201, person.text
        person_id: str = person.json()["person_id"]
        case = self.post(
            f"/v1/people/{person_id}/cases", {"reason": reason, "key_worker": KEY_WORKER}
        )
        assert case.status_code == 201, case.text
        return person_id, case.json()["case_id"]

    def record(
        self, case_id: str, type_: str, data: dict[str, Any], **headers: str
    ) -> httpx.Response:
        return self.post(f"/v1/cases/{case_id}/events", {"type": type_, "data": data}, **headers)


def single_view(worker: Worker) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return the citizen's single view and timeline, as the projection API shows them."""
    found = worker.get(f"/v1/citizens?nhs_number={NHS_NUMBER}", "projection").json()["citizens"]
    citizen_id = found[0]["citizen_id"]
    view = worker.get(f"/v1/citizens/{citizen_id}", "projection").json()
    timeline = worker.get(f"/v1/citizens/{citizen_id}/timeline", "projection").json()
    return view, timeline.get("events", [])  # none until the worker's own case is projected


def record_the_story(housing: Worker, health: Worker, charity: Worker) -> str:
    """Three organisations work with one person; housing refers them to the charity."""
    person_id, housing_case = housing.register_and_open_case("threatened with homelessness")
    assert (
        housing.record(
            housing_case,
            "housing.tenancy_at_risk",
            {"risk": "rent_arrears"},
            **{"X-Correlation-ID": STORY_CORRELATION},
        ).status_code
        == 201
    )
    assert (
        housing.record(
            housing_case,
            "housing.eviction_notice_served",
            {"notice": "section_21", "served_on": "2026-11-01"},
        ).status_code
        == 201
    )
    _, health_case = health.register_and_open_case("referred by GP")
    assert (
        health.record(
            health_case, "mental_health.crisis_episode_started", {"setting": "home_treatment"}
        ).status_code
        == 201
    )
    charity_person, charity_case = charity.register_and_open_case("drop-in")
    assert (
        charity.record(
            charity_case, "voluntary.engagement_recorded", {"channel": "drop_in"}
        ).status_code
        == 201
    )

    referral = housing.post(
        "/v1/referrals",
        {
            "person_id": person_id,
            "to_org": "voluntary",
            "reason": "needs food and benefits support",
            "urgency": "urgent",
        },
    )
    assert referral.status_code == 201, referral.text
    referral_id: str = referral.json()["referral_id"]
    received = wait_for(
        lambda: (
            (r := charity.get(f"/v1/referrals/{referral_id}", "voluntary")).status_code == 200
            and r.json()
        ),
        what="the charity's inbox to receive the referral",
    )
    # the charity knew him already: the referral joins its record, no second one
    assert (received["person_id"], received["found_by"]) == (charity_person, "nhs_number")
    accepted = charity.post(
        f"/v1/referrals/{referral_id}/accept",
        {"key_worker": {"name": "Jo Reid"}},
        service="voluntary",
    )
    assert accepted.status_code == 200, accepted.text
    listed = wait_for(
        lambda: [
            item
            for item in charity.get("/v1/referrals?status=accepted", "voluntary").json()["items"]
            if item["referral_id"] == referral_id
        ],
        what="the charity's worklist to show the referral accepted",
    )
    assert (listed[0]["other_org"], listed[0]["person"]["family_name"]) == ("housing", "Smith")
    sent = wait_for(  # the loop closed: housing's inbox takes the charity's answer in
        lambda: (
            (r := housing.get(f"/v1/referrals/{referral_id}", "housing").json())["status"]
            == "accepted"
            and r
        ),
        what="housing's referral to say accepted, with the charity's key worker",
    )
    assert sent["key_worker"]["name"] == "Jo Reid"
    return referral_id


def assert_logs_trace_the_request_without_personal_data(log: Path) -> None:
    """The correlation id runs from the HTTP request to the projection; no name, no NHS number."""
    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    requests = [e for e in lines if e.get("message") == "request" and e.get("service") == "housing"]
    batches = [e for e in lines if e.get("message") == "projection_batch"]
    assert any(e.get("correlation_id") == STORY_CORRELATION for e in requests)
    assert any(STORY_CORRELATION in e.get("correlation_ids", []) for e in batches)
    for personal in ("Smith", "David", NHS_NUMBER, "943 476 5919", "1979-03-12", "BS5 6XX"):
        assert personal not in text


@pytest.mark.parametrize("system", ["postgres", "kafka"], indirect=True)
def test_three_organisations_one_citizen_from_up_to_replay_and_restart(
    system: System, tmp_path: Path
) -> None:
    """Record, refer, view, replay, Ctrl-C and restart: the single view survives it all."""
    log = tmp_path / "up.log"
    with running(system, log):
        housing, health, charity = (
            Worker(system, org) for org in ("housing", "mental_health", "voluntary")
        )
        referral_id = record_the_story(housing, health, charity)

        def complete() -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
            if not health.get(f"/v1/citizens?nhs_number={NHS_NUMBER}", "projection").json()[
                "citizens"
            ]:
                return None
            view, timeline = single_view(health)  # the default rules show it all the story
            referrals = view.get("referrals", [])
            done = len(timeline) >= 14 and referrals and referrals[0]["status"] == "accepted"
            return (view, timeline) if done else None

        view, timeline = wait_for(
            complete, timeout=30, what="the projection to show the whole story"
        )
        assert {i["org"] for i in view["involvements"]} == {"housing", "mental_health", "voluntary"}
        assert view["referrals"][0]["referral_id"] == referral_id
        assert {"eviction_notice_served", "in_crisis"} <= {f["flag"] for f in view["flags"]}
        assert {e["org"] for e in timeline} == {"housing", "mental_health", "voluntary"}
        assert [e["occurred_at"] for e in timeline] == sorted(e["occurred_at"] for e in timeline)
        assert any(
            e["correlation_id"] == STORY_CORRELATION and e["type"] == "housing.tenancy_at_risk"
            for e in timeline
        )

        # the place's default sharing rules: housing sees the mental health team, not the crisis
        housing_view, housing_timeline = single_view(housing)
        assert {f["flag"] for f in housing_view["flags"]} == {
            "eviction_notice_served",
            "tenancy_at_risk",
        }  # its own flags; not the mental health crisis
        assert {i["org"] for i in housing_view["involvements"]} == {
            "housing",
            "mental_health",
            "voluntary",
        }
        assert {e["category"] for e in housing_timeline if e["org"] == "mental_health"} == {
            "person.identity",
            "case.involvement",
        }

        assert_logs_trace_the_request_without_personal_data(log)

        # the person tells mental health not to share its records with housing: from the
        # next read on, housing sees nothing of mental health, not even that it is involved
        health_person = next(i for i in view["involvements"] if i["org"] == "mental_health")
        withdrawal = {
            "decision": "withdrawn", "sources": ["mental_health"], "recipients": ["housing"],
            "purposes": ["direct_care"],
        }  # fmt: skip
        recorded = health.post(f"/v1/people/{health_person['person_id']}/consent", withdrawal)
        assert recorded.status_code == 201, recorded.text

        def withdrawn() -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
            seen = single_view(housing)
            answers = [e for e in seen[1] if e["type"] == "referral.answered"]
            if "mental_health" in json.dumps(seen) or len(answers) < 2:  # received, accepted
                return None  # (housing's record of the charity's answers follows its log)
            return seen

        housing_view, housing_timeline = wait_for(
            withdrawn, timeout=30, what="housing's view to honour the withdrawal"
        )
        assert {i["org"] for i in housing_view["involvements"]} == {"housing", "voluntary"}
        view, timeline = wait_for(
            lambda: (seen := single_view(health))[0]["consents"] and seen,
            what="mental health to see the decision it recorded",
        )

        system.caseweave("replay", "projection")
        assert single_view(health) == (view, timeline)
        assert single_view(housing) == (housing_view, housing_timeline)

        # a subject access request: everything held about him, from every organisation
        sar = tmp_path / "sar.json"
        exported = system.caseweave(
            "sar", "export", "--citizen", view["citizen_id"], "--output", str(sar)
        )
        assert "exported citizen" in exported.stderr
        document = json.loads(sar.read_text())
        assert {i["org"] for i in document["single_view"]["involvements"]} == {
            "housing", "mental_health", "voluntary",
        }  # fmt: skip
        # the full timeline health sees, and housing's record of the charity's two answers
        # (which only the referral's two parties see)
        answers = [e for e in document["timeline"] if e["type"] == "referral.answered"]
        assert (len(answers), len(document["timeline"])) == (2, len(timeline) + 2)
        assert {a["viewer_org"] for a in document["access_log"]} >= {"housing", "mental_health"}
        assert sar.stat().st_mode & 0o077 == 0  # personal data: the owner's eyes only

        assert system.stop() == 0
    with running(system, log):
        assert single_view(health) == (view, timeline)

        # the right to erasure: his keys are shredded; nothing of him comes back, not even
        # through a replay of every organisation's stream
        citizen_id = view["citizen_id"]
        at_housing = next(i for i in view["involvements"] if i["org"] == "housing")
        smiths = "/v1/people?family_name=smith&date_of_birth=1979-03-12"
        found = housing.get(smiths, "housing").json()["items"]
        assert at_housing["person_id"] in {item["person"]["person_id"] for item in found}
        erased = system.caseweave("erase", "--citizen", citizen_id, "--yes")
        assert "3 record(s) shredded" in erased.stderr
        system.caseweave("replay", "projection")
        search = health.get(f"/v1/citizens?nhs_number={NHS_NUMBER}", "projection")
        assert search.json()["citizens"] == []
        assert health.get(f"/v1/citizens/{citizen_id}", "projection").status_code == 404
        person = housing.get(f"/v1/people/{at_housing['person_id']}", "housing")
        assert person.status_code == 404
        found = housing.get(smiths, "housing").json()["items"]  # nobody finds him by name
        assert at_housing["person_id"] not in {item["person"]["person_id"] for item in found}

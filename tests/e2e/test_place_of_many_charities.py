"""A place with a council, an NHS trust and two charities, started with `caseweave up` on the
shipped example organisations file: the council refers a man to the second charity, which
accepts; the first charity knows him too. Each charity works on its own records through the
one voluntary sector service; the single view names each charity; one charity's support work
is not shown to the other; erasure reaches every organisation that holds him."""

import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.system import System, running, wait_for
from tests.integration.organisation.running_services import a_fresh_nhs_number

PLACE = Path(__file__).parents[2] / "deploy" / "organisations.example.toml"
KEY_WORKER = {"name": "Ola Bello", "role": "Day centre worker", "email": "ola@example.org"}


class Worker:
    """A frontline worker of one organisation, with its key."""

    def __init__(self, system: System, org: str, service: str) -> None:
        self.system, self.org, self.service = system, org, service
        self.headers = {"Authorization": f"Bearer {system.create_key(org)}"}

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.system.url(self.service)}{path}", json=body, headers=self.headers)

    def get(self, path: str, service: str | None = None) -> httpx.Response:
        url = self.system.url(service or self.service)
        return httpx.get(f"{url}{path}", headers=self.headers)


def _registered(worker: Worker, nhs_number: str, family: str) -> str:
    answer = worker.post("/v1/people", {
        "nhs_number": nhs_number, "given_name": "Alex", "family_name": family,
        "date_of_birth": "1987-05-14", "place": "E05010892",
    })  # fmt: skip
    assert answer.status_code == 201, answer.text
    person_id: str = answer.json()["person_id"]
    return person_id


def _open_case(worker: Worker, person_id: str, reason: str) -> str:
    answer = worker.post(
        f"/v1/people/{person_id}/cases", {"reason": reason, "key_worker": KEY_WORKER}
    )
    assert answer.status_code == 201, answer.text
    case_id: str = answer.json()["case_id"]
    return case_id


def test_two_charities_of_one_place_each_on_its_own_records_named_in_the_single_view(
    system: System, tmp_path: Path
) -> None:
    system.settings["CASEWEAVE_ORGANISATIONS_FILE"] = str(PLACE)
    with running(system, tmp_path / "system.log"):
        council = Worker(system, "northtown_housing", "housing")
        food_bank = Worker(system, "eastside_food_bank", "voluntary")
        day_centre = Worker(system, "riverside_day_centre", "voluntary")
        nhs_number, family = a_fresh_nhs_number(), f"Morgan{uuid.uuid4().hex[:6]}"

        at_council = _registered(council, nhs_number, family)
        _open_case(council, at_council, "threatened with homelessness")
        made = council.post("/v1/referrals", {
            "person_id": at_council, "to_org": "riverside_day_centre",
            "reason": "somewhere to be by day", "urgency": "urgent",
        })  # fmt: skip
        assert made.status_code == 201, made.text
        referral_id = made.json()["referral_id"]

        def waiting() -> bool:
            listed = day_centre.get("/v1/referrals?direction=incoming").json()["items"]
            return referral_id in {item["referral_id"] for item in listed}

        wait_for(waiting, what="the referral in the day centre's incoming list")
        assert food_bank.get(f"/v1/referrals/{referral_id}").status_code == 404
        accepted = day_centre.post(
            f"/v1/referrals/{referral_id}/accept", {"key_worker": KEY_WORKER}
        )
        assert accepted.status_code == 200, accepted.text

        at_food_bank = _registered(food_bank, nhs_number, family)
        case_id = _open_case(food_bank, at_food_bank, "food parcels after a benefit sanction")
        engaged = food_bank.post(
            f"/v1/cases/{case_id}/events",
            {"type": "voluntary.engagement_recorded", "data": {"channel": "drop_in"}},
        )
        assert engaged.status_code == 201, engaged.text
        assert day_centre.get(f"/v1/people/{at_food_bank}").status_code == 404
        assert day_centre.get(f"/v1/cases/{case_id}").status_code == 404

        def everyone_in_view() -> tuple[str, dict[str, Any]] | None:
            found = council.get(f"/v1/citizens?nhs_number={nhs_number}", "projection").json()
            if not found.get("citizens"):
                return None
            citizen_id = found["citizens"][0]["citizen_id"]
            view = council.get(f"/v1/citizens/{citizen_id}", "projection").json()
            orgs = {i["org"] for i in view["involvements"]}
            accepted = [r for r in view["referrals"] if r["status"] == "accepted"]
            done = len(orgs) == 3 and accepted
            return (citizen_id, view) if done else None

        citizen_id, view = wait_for(everyone_in_view, what="three organisations in the view")
        names = {o["id"]: o["name"] for o in view["organisations"]}
        assert names == {
            "northtown_housing": "Northtown Council housing options",
            "eastside_food_bank": "Eastside Food Bank",
            "riverside_day_centre": "Riverside Day Centre",
        }
        [referral] = view["referrals"]
        assert (referral["to_org"], referral["status"]) == ("riverside_day_centre", "accepted")

        def support_work(worker: Worker) -> list[dict[str, Any]]:
            path = f"/v1/citizens/{citizen_id}/timeline"
            events = worker.get(path, "projection").json()["events"]
            return [e for e in events if e["type"] == "voluntary.engagement_recorded"]

        assert [e["org"] for e in support_work(council)] == ["eastside_food_bank"]
        assert support_work(day_centre) == []  # another charity's work: no grant shares it
        seen = day_centre.get(f"/v1/citizens/{citizen_id}", "projection").json()
        [theirs] = [i for i in seen["involvements"] if i["org"] == "eastside_food_bank"]
        assert [c["reason"] for c in theirs["cases"]] == [None]  # involved; its words: no

        bundle = council.get(f"/v1/citizens/{citizen_id}/fhir", "projection").json()
        named = {e["resource"]["name"] for e in bundle["entry"]
                 if e["resource"]["resourceType"] == "Organization"}  # fmt: skip
        assert {"Riverside Day Centre", "Eastside Food Bank"} <= named

        erased = system.caseweave("erase", "--citizen", citizen_id, "--yes")
        assert "3 record(s) shredded" in erased.stderr
        assert food_bank.get(f"/v1/people/{at_food_bank}").status_code == 404
        assert council.get(f"/v1/people/{at_council}").status_code == 404
        gone = council.get(f"/v1/citizens/{citizen_id}", "projection")
        assert gone.status_code == 404

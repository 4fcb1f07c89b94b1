"""The issue's three records of one man, through `caseweave up` and HTTP: matched on arrival,
reviewed and confirmed by both organisations' data stewards, split again, and the decisions
kept by a replay."""

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.system import PERSON, System, running, wait_for

DAVID = PERSON  # housing's David
DAVE = {  # the charity: no NHS number, no postcode, a nickname
    "given_name": "Dave",
    "family_name": "Smith",
    "date_of_birth": "1979-03-12",
    "place": "E05001234",
}
KEY_WORKER = {"name": "Sam Okafor", "role": "key worker"}


class Client:
    """One key talking to the running system."""

    def __init__(self, system: System, org: str, role: str = "frontline") -> None:
        self.system = system
        self.headers = {"Authorization": f"Bearer {system.create_key(org, role)}"}

    def post(self, service: str, path: str, body: dict[str, Any]) -> httpx.Response:
        url = f"{self.system.url(service)}{path}"
        return httpx.post(url, json=body, headers=self.headers, timeout=10)

    def get(self, service: str, path: str) -> Any:
        response = httpx.get(f"{self.system.url(service)}{path}", headers=self.headers, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def register_with_a_case(self, org: str, person: dict[str, Any]) -> str:
        created = self.post(org, "/v1/people", person)
        assert created.status_code == 201, created.text
        person_id: str = created.json()["person_id"]
        case = self.post(
            org, f"/v1/people/{person_id}/cases", {"reason": "support", "key_worker": KEY_WORKER}
        )
        assert case.status_code == 201, case.text
        return person_id


def involvements(client: Client, citizen_id: str) -> list[str]:
    view = client.get("projection", f"/v1/citizens/{citizen_id}")
    return sorted(i["org"] for i in view["involvements"])


def citizen_by_nhs_number(client: Client) -> str:
    found = client.get("projection", "/v1/citizens?nhs_number=9434765919")["citizens"]
    assert len(found) == 1
    citizen_id: str = found[0]["citizen_id"]
    return citizen_id


# in Kafka mode too with `./test -m slow`: the default suite must stay under CI's 15 minutes,
# and the Kafka transport is covered end to end by the frontline story and the failover tests
@pytest.mark.parametrize(
    "system", ["postgres", pytest.param("kafka", marks=pytest.mark.slow)], indirect=True
)
def test_review_confirm_unlink_and_replay(system: System, tmp_path: Path) -> None:
    with running(system, tmp_path / "system.log"):
        housing = Client(system, "housing")
        charity = Client(system, "voluntary")
        steward = Client(system, "housing", "data_steward")
        charity_steward = Client(system, "voluntary", "data_steward")  # seconds, splits its own
        housing.register_with_a_case("housing", DAVID)
        dave = charity.register_with_a_case("voluntary", DAVE)

        queue = wait_for(
            lambda: (q := steward.get("projection", "/v1/identity/review"))["total"] and q,
            what="the pair in the review queue",
        )
        pair = queue["pairs"][0]
        assert {pair["a"]["org"], pair["b"]["org"]} == {"housing", "voluntary"}
        assert pair["agreed_on"] == ["given_name", "family_name", "date_of_birth"]
        citizen = citizen_by_nhs_number(housing)
        assert involvements(housing, citizen) == ["housing"]

        confirmed = steward.post(
            "projection",
            f"/v1/identity/review/{pair['pair_id']}/confirm",
            {"reason": "same man: checked with him at the drop-in"},
        )
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["awaiting"] == ["voluntary"]  # its steward agrees, or not
        assert involvements(housing, citizen) == ["housing"]
        [asked] = charity_steward.get("projection", "/v1/identity/review")["pairs"]
        assert (asked["pair_id"], asked["linked_by"]) == (pair["pair_id"], ["housing"])
        seconded = charity_steward.post(
            "projection",
            f"/v1/identity/review/{pair['pair_id']}/confirm",
            {"reason": "Dave confirmed his address with housing"},
        )
        assert seconded.status_code == 200, seconded.text
        # the charity's case may still be on its way through the relay (Kafka mode)
        wait_for(
            lambda: involvements(housing, citizen) == ["housing", "voluntary"],
            what="the charity's case in the joined citizen's view",
        )
        assert steward.get("projection", "/v1/identity/review")["total"] == 0

        system.caseweave("replay", "projection")
        assert involvements(housing, citizen_by_nhs_number(housing)) == ["housing", "voluntary"]

        split = charity_steward.post(
            "projection",
            f"/v1/citizens/{citizen}/unlink",
            {"org": "voluntary", "person_id": dave, "reason": "his cousin, not him"},
        )
        assert split.status_code == 200, split.text
        apart = next(c for c in split.json()["citizens"] if c["org"] == "voluntary")
        assert apart["citizen_id"] != citizen
        assert involvements(housing, citizen) == ["housing"]
        assert involvements(housing, apart["citizen_id"]) == ["voluntary"]

        system.caseweave("replay", "projection")
        assert involvements(housing, citizen_by_nhs_number(housing)) == ["housing"]
        assert involvements(housing, apart["citizen_id"]) == ["voluntary"]
        assert steward.get("projection", "/v1/identity/review")["total"] == 0

"""A charity's own system connected to `caseweave up` as its users would connect it: signed
webhooks in, a CSV export through the command line, quarantine seen by ops, and a webhook
out when housing refers someone to the charity; what it sent shows in the single view."""

import base64
import http.server
import json
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.e2e.system import System, free_port, running, wait_for

ADAPTERS = Path(__file__).parents[2] / "deploy" / "adapters"
SECRET = f"whsec_{base64.b64encode(os.urandom(32)).decode()}"


class _Receiver(http.server.BaseHTTPRequestHandler):
    notices: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        _Receiver.notices.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def charity_endpoint() -> Iterator[str]:
    port = free_port()
    server = http.server.HTTPServer(("127.0.0.1", port), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}/caseweave"
    server.shutdown()


def _sources(folder: Path, endpoint: str) -> Path:
    for mapping in ("generic_json_webhook.toml", "spreadsheet_export_csv.toml"):
        shutil.copy(ADAPTERS / mapping, folder / mapping)
    path = folder / "sources.toml"
    path.write_text(
        f'[sources.eastside]\norg = "voluntary"\nsecrets = ["{SECRET}"]\n'
        f'mapping = "generic_json_webhook.toml"\nendpoint = "{endpoint}"\n\n'
        f'[sources.sheet]\norg = "voluntary"\nsecrets = ["{SECRET}"]\n'
        'mapping = "spreadsheet_export_csv.toml"\n'
    )
    return path


def _push(system: System, message: dict[str, Any]) -> httpx.Response:
    body, message_id, at = (
        json.dumps(message).encode(),
        f"msg_{uuid.uuid4().hex}",
        datetime.now(UTC),
    )
    headers = {
        "content-type": "application/json", "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(message_id, at, body),
    }  # fmt: skip
    return httpx.post(
        f"{system.url('voluntary')}/v1/inbound/eastside", content=body, headers=headers
    )


def test_a_charitys_system_pushes_imports_and_hears_of_referrals(
    system: System, tmp_path: Path, charity_endpoint: str
) -> None:
    system.settings["CASEWEAVE_SOURCES_FILE"] = str(_sources(tmp_path, charity_endpoint))
    with running(system, tmp_path / "system.log"):
        family = f"Adapter{uuid.uuid4().hex[:6]}"
        client = {"id": "C-1", "first_name": "Jo", "last_name": family, "dob": "03/04/1990",
                  "postcode": "BS5 6XX"}  # fmt: skip
        for message in (
            {"event": "client.created", "client": client},
            {"event": "case.opened", "client": {"id": "C-1"},
             "case": {"id": "K-1", "reason": "food", "worker": "Jo Reid"}},
            {"event": "session.logged", "client": {"id": "C-1"}, "case": {"id": "K-1"},
             "session": {"type": "1-1", "minutes": 45}},
        ):  # fmt: skip
            answer = _push(system, message)
            assert (answer.status_code, answer.json()["status"]) == (200, "applied"), answer.text

        charity_key = system.create_key("voluntary")
        headers = {"Authorization": f"Bearer {charity_key}"}

        def in_the_single_view() -> dict[str, Any] | None:
            sought = {"family_name": family, "date_of_birth": "1990-04-03"}
            found = httpx.get(
                f"{system.url('projection')}/v1/citizens", headers=headers, params=sought
            )
            citizens = found.json().get("citizens", [])
            if not citizens:
                return None
            view = httpx.get(
                f"{system.url('projection')}/v1/citizens/{citizens[0]['citizen_id']}",
                headers=headers,
            ).json()
            cases = [c for i in view.get("involvements", []) for c in i.get("cases", [])]
            return view if cases else None

        view = wait_for(in_the_single_view, what="the charity's case in the single view")
        [case] = [c for i in view["involvements"] for c in i["cases"]]
        assert case["key_worker"]["name"] == "Jo Reid"

        export = tmp_path / "clients.csv"
        export.write_bytes(
            "\ufeffType,Client ID,First name,Surname,Date of birth,Postcode\r\n"
            f"client,S-1,Zoé,{family}Sheet,01/02/1985,BS1 4DJ\r\n".encode()
        )
        imported = system.caseweave("import", "csv", "--source", "sheet", str(export))
        assert "applied 1" in imported.stdout

        kept = _push(system, {"event": "food.given", "client": {"id": "C-1"},
                              "case": {"id": "K-1"}, "food": {"type": "PIZZA"}})  # fmt: skip
        assert (kept.status_code, kept.json()["rule"]) == (202, "unknown_code")
        held = system.caseweave("quarantine", "list", "--org", "voluntary").stdout
        assert kept.json()["quarantine_id"] in held

        housing = {"Authorization": f"Bearer {system.create_key('housing')}"}
        person = httpx.post(f"{system.url('housing')}/v1/people", headers=housing, json={
            "given_name": "Ria", "family_name": family, "date_of_birth": "1984-06-01",
            "place": "E05010892",
        }).json()  # fmt: skip
        referral = httpx.post(f"{system.url('housing')}/v1/referrals", headers=housing, json={
            "person_id": person["person_id"], "to_org": "voluntary", "reason": "food this week",
        }).json()  # fmt: skip

        def told() -> dict[str, Any] | None:
            for notice_headers, body in _Receiver.notices:
                notice = Webhook(SECRET).verify(body, notice_headers)
                if notice["referral_id"] == referral["referral_id"]:
                    return dict(notice)
            return None

        notice = wait_for(told, what="the charity's system to hear of the referral")
        assert (notice["type"], notice["reason"]) == ("referral.made_to_you", "food this week")

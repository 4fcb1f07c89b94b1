"""`caseweave up` keeps the system running: a service or the embedded PostgreSQL that dies is
started again (and says so), and while the database is down every call is a 503 to retry."""

import json
import os
import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.e2e.system import PERSON, System, running, wait_for


def _log_lines(path: Path, message: str) -> list[dict[str, Any]]:
    lines = []
    for text in path.read_text(errors="replace").splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if isinstance(line, dict) and line.get("message") == message:
            lines.append(line)
    return lines


def _service_pid(system: System, name: str) -> int | None:
    """Return the pid of `caseweave run NAME` under `caseweave up`, if it is running."""
    assert system.process is not None
    for child in psutil.Process(system.process.pid).children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and child.cmdline()[-2:] == ["run", name]:
                return child.pid
        except psutil.Error:  # ended meanwhile, or killed and not yet reaped
            continue
    return None


def test_a_service_killed_is_started_again_and_the_others_keep_running(
    system: System, tmp_path: Path
) -> None:
    """kill -9 of one service: `up` logs it (name, exit code, attempt, pause), starts it again
    a second later, and the other services never stop; Ctrl-C still stops everything."""
    log_path = tmp_path / "up.log"
    with running(system, log_path):
        killed = _service_pid(system, "housing")
        projection = _service_pid(system, "projection")
        assert killed is not None
        os.kill(killed, signal.SIGKILL)

        restarted = wait_for(
            lambda: (pid := _service_pid(system, "housing")) not in (None, killed) and pid,
            timeout=30, what="housing to be started again",
        )  # fmt: skip
        wait_for(lambda: _ready(system, "housing"), timeout=30, what="housing to answer again")
        assert _service_pid(system, "projection") == projection
        [restart] = _log_lines(log_path, "service_restarting")
        assert {k: restart[k] for k in ("service", "exit_code", "attempt", "delay_s")} == {
            "service": "housing",
            "exit_code": -signal.SIGKILL,
            "attempt": 1,
            "delay_s": 1.0,
        }
        assert restarted != killed
        assert system.stop() == 0


def _ready(system: System, service: str) -> bool:
    try:
        return httpx.get(f"{system.url(service)}/health/ready", timeout=1).is_success
    except httpx.HTTPError:
        return False


@contextmanager
def _embedded_postgres_stopped_after(data_dir: Path) -> Iterator[None]:
    """Stop the embedded server the test started, whatever happened (pg_ctl detaches it
    from `caseweave up`, so killing `up` alone would leave it running)."""
    try:
        yield
    finally:
        pid = _postmaster_pid(data_dir)
        if pid is not None and psutil.pid_exists(pid):
            os.kill(pid, signal.SIGQUIT)


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def test_the_embedded_database_killed_is_503_with_retry_after_until_up_restarts_it(
    tmp_path: Path,
) -> None:
    """kill -9 of the embedded PostgreSQL: every API call answers 503 `database_unavailable`
    with Retry-After (never a 500) until `up` has started it again; then the services answer
    by themselves, and a person registered afterwards reaches the single view."""
    system = System(database_url="", data_dir=tmp_path / "data")  # no URL: embedded
    log_path = tmp_path / "up.log"
    with _embedded_postgres_stopped_after(system.data_dir), running(system, log_path):
        headers = {"Authorization": f"Bearer {system.create_key('housing')}"}
        missing = f"{system.url('housing')}/v1/people/{uuid.uuid4()}"
        search = f"{system.url('projection')}/v1/citizens?nhs_number=9434765919"
        assert httpx.get(missing, headers=headers, timeout=10).status_code == 404

        postmaster = _postmaster_pid(system.data_dir)
        assert postmaster is not None
        os.kill(postmaster, signal.SIGKILL)

        statuses = []

        def answered_503() -> httpx.Response | None:
            response = httpx.get(missing, headers=headers, timeout=10)
            statuses.append(response.status_code)
            return response if response.status_code == 503 else None

        outage = wait_for(answered_503, timeout=10, what="a 503 while the database is down")
        assert outage.json()["error"]["code"] == "database_unavailable"
        assert int(outage.headers["Retry-After"]) > 0
        projection = httpx.get(search, headers=headers, timeout=10)
        assert projection.status_code in (200, 503)  # 200: the database is already back
        if projection.status_code == 503:
            assert projection.headers["Retry-After"]

        wait_for(lambda: not answered_503(), timeout=45, what="the database to be back")
        assert set(statuses) <= {503, 404}, statuses
        assert _postmaster_pid(system.data_dir) != postmaster
        restarted = wait_for(
            lambda: _log_lines(log_path, "service_restarted"),
            timeout=30, what="`up` to say it has started the database again",
        )  # fmt: skip
        assert [line["service"] for line in restarted] == ["postgres"]
        # a first try may find the killed server not yet reaped: tried again, pausing longer
        restarting = _log_lines(log_path, "service_restarting")
        assert [line["attempt"] for line in restarting] == list(range(1, len(restarting) + 1))
        assert {line["service"] for line in restarting} == {"postgres"}

        registered = httpx.post(
            f"{system.url('housing')}/v1/people", json=PERSON, headers=headers, timeout=10
        )
        assert registered.status_code == 201, registered.text
        wait_for(
            lambda: httpx.get(search, headers=headers, timeout=10).json().get("citizens"),
            timeout=45, what="the projection worker to have carried on",
        )  # fmt: skip
        assert system.stop() == 0

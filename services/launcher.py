"""`caseweave up`: every service on one machine, as child processes, stopped together."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Literal

import httpx

from events.envelope import ORGANISATIONS, OrgId
from services.runtime.settings import Settings
from services.service_runner import ServiceName

HTTP_SERVICES: tuple[OrgId | Literal["projection"], ...] = ("projection", *ORGANISATIONS)
UP_SERVICES: tuple[ServiceName, ...] = HTTP_SERVICES
STOP_GRACE_SECONDS = 10.0
READY_TIMEOUT_SECONDS = 60.0


def _spawn(name: ServiceName, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "services.cli", "run", name]
    return subprocess.Popen(command, env=env)  # noqa: S603 - our own interpreter and arguments


def _stop_all(children: Sequence[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children:
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _wait_until_ready(settings: Settings, children: Sequence[subprocess.Popen[bytes]]) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    pending = {name: settings.port_of(name) for name in HTTP_SERVICES}
    while pending and time.monotonic() < deadline:
        if any(child.poll() is not None for child in children):
            return False
        for name, port in list(pending.items()):
            try:
                if httpx.get(f"http://{settings.host}:{port}/health/ready", timeout=1).is_success:
                    del pending[name]
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    return not pending


def _banner(settings: Settings) -> str:
    lines = ["", "Caseweave is up:"]
    lines += [
        f"  {name:<14} http://{settings.host}:{settings.port_of(name)}/docs"
        for name in HTTP_SERVICES
    ]
    lines += [
        "Create an API key in another terminal:",
        "  .venv/bin/caseweave keys create --org housing --role frontline",
        "Stop with Ctrl-C.",
        "",
    ]
    return "\n".join(lines)


def run_everything(settings: Settings, database_url: str) -> int:
    """Start every service, wait for Ctrl-C, then stop them all; return an exit code."""
    env = {**os.environ, "CASEWEAVE_DATABASE_URL": database_url}
    children = [_spawn(name, env) for name in UP_SERVICES]
    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        if not _wait_until_ready(settings, children):
            print("A service failed to start; see its log lines above.", file=sys.stderr)
            return 1
        print(_banner(settings), file=sys.stderr)
        while not stopping:
            if any(child.poll() is not None for child in children):
                print("A service stopped unexpectedly; stopping the others.", file=sys.stderr)
                return 1
            time.sleep(0.2)
        return 0
    finally:
        _stop_all(children)

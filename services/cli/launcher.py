"""`caseweave up`: every service on one machine, as child processes, kept running together.

`up` is their supervisor: a service that dies is started again after a pause that doubles
with each failure in a row (`services/runtime/backoff.py`), and so is the embedded PostgreSQL;
each restart is a `service_restarting` log line naming what stopped, how, the attempt and
the pause. Ctrl-C stops everything.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Literal, Protocol

import httpx
import structlog

from events.organisations import Sector
from services.cli.kafka_up import KafkaForUp
from services.cli.service_runner import ServiceName
from services.runtime.backoff import Backoff
from services.runtime.embedded_postgres import EmbeddedPostgres
from services.runtime.kafka.local.cluster import LocalKafkaCluster
from services.runtime.organisations_file import load_organisations
from services.runtime.settings import Settings
from services.runtime.stop_signals import StopRequest

HttpService = Sector | Literal["projection"]
STOP_GRACE_SECONDS = 10.0
READY_TIMEOUT_SECONDS = 60.0
RESTARTS = Backoff(first=1.0, most=30.0, stable_after=60.0)
log = structlog.get_logger("caseweave.up")


def up_services(settings: Settings) -> tuple[HttpService, ...]:
    """Return the services `up` runs: the projection, and the service of each sector the
    place has organisations of (`CASEWEAVE_ORGANISATIONS_FILE`)."""
    return ("projection", *load_organisations(settings.organisations_file).sectors)


class Supervised(Protocol):
    """Something `up` keeps running: a service's process, the embedded database."""

    @property
    def name(self) -> str:
        """Return what log lines call it."""
        ...

    def running(self) -> bool:
        """Return whether it is up."""
        ...

    def exit_code(self) -> int | None:
        """Return how it ended, where that is known."""
        ...

    def restart(self) -> None:
        """Start it again (raising if it cannot be started now)."""
        ...


class ServiceProcess:
    """A service run as `caseweave run NAME` in a child process."""

    def __init__(self, name: ServiceName, env: dict[str, str]) -> None:
        self.name, self._env = name, env
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "services.cli", "run", self.name]
        return subprocess.Popen(command, env=self._env)  # noqa: S603 - our own interpreter

    def running(self) -> bool:
        """Return whether the child process is still alive."""
        return self.process.poll() is None

    def exit_code(self) -> int | None:
        """Return the child's exit status (negative: the signal that ended it)."""
        return self.process.poll()

    def restart(self) -> None:
        """Start a new child process for the service."""
        self.process = self._spawn()


class EmbeddedDatabase:
    """The embedded PostgreSQL as `up` supervises it."""

    name = "postgres"

    def __init__(self, server: EmbeddedPostgres) -> None:
        self._server = server

    def running(self) -> bool:
        """Return whether the server process is alive."""
        return self._server.running()

    def exit_code(self) -> int | None:
        """Return None: the server is not `up`'s child, so how it ended is not known here."""
        return None

    def restart(self) -> None:
        """Start the server again on the same data directory."""
        self._server.restart()


class LocalKafkaNode:
    """The one-node Kafka `up --transport kafka` started, as `up` supervises it."""

    name = "kafka"

    def __init__(self, cluster: LocalKafkaCluster) -> None:
        self._cluster = cluster

    def running(self) -> bool:
        """Return whether the node's process is alive."""
        return self._cluster.failed_node() is None

    def exit_code(self) -> int | None:
        """Return None: how the node ended is in its own log."""
        return None

    def restart(self) -> None:
        """Start the node again on the same data (raising if it does not come up)."""
        self._cluster.start_node(self._cluster.nodes[0].node_id)


class Restarter:
    """Restarts one supervised thing whenever it stops, with backoff, saying so in the log."""

    def __init__(
        self, unit: Supervised, policy: Backoff = RESTARTS, *, started_at: float | None = None
    ) -> None:
        self.unit, self._policy = unit, policy
        self._attempts = 0
        self._started = time.monotonic() if started_at is None else started_at
        self._due: float | None = None

    def check(self, now: float) -> None:
        """Notice that the unit stopped, or restart it when its pause is over."""
        if self._due is None:
            if not self.unit.running():
                self._schedule(now, exit_code=self.unit.exit_code())
            return
        if now < self._due:
            return
        self._due, self._started = None, now
        try:
            self.unit.restart()
        except Exception as error:  # e.g. the database still refusing to start: try later
            log.warning(
                "restart_failed",
                service=self.unit.name,
                error_type=type(error).__name__,
                reason=str(error),  # ours or pg_ctl's: no personal data
            )
            self._schedule(now, exit_code=None)
            return
        log.info("service_restarted", service=self.unit.name, attempt=self._attempts)

    def _schedule(self, now: float, *, exit_code: int | None) -> None:
        self._attempts, delay = self._policy.next_restart(
            self._attempts, ran_for=now - self._started
        )
        self._due = now + delay
        log.warning(
            "service_restarting",
            service=self.unit.name,
            exit_code=exit_code,
            attempt=self._attempts,
            delay_s=delay,
        )


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


def _wait_until_ready(settings: Settings, services: Sequence[ServiceProcess]) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    pending = {name: settings.port_of(name) for name in up_services(settings)}
    while pending and time.monotonic() < deadline:
        if not all(service.running() for service in services):
            return False
        for name, port in list(pending.items()):
            try:
                if httpx.get(f"http://{settings.host}:{port}/health/ready", timeout=1).is_success:
                    del pending[name]
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    return not pending


def _banner(settings: Settings, kafka: KafkaForUp | None) -> str:
    lines = ["", "Caseweave is up:"]
    organisations = load_organisations(settings.organisations_file)
    for name in up_services(settings):
        lines.append(f"  {name:<14} http://{settings.host}:{settings.port_of(name)}/docs")
        if name != "projection" and organisations.of_sector(name) != (name,):
            lines.append(f"  {'':<14} serving {', '.join(organisations.of_sector(name))}")
    if kafka is not None:
        where = "started here" if kafka.local is not None else "KAFKA_BOOTSTRAP_SERVERS"
        lines += [
            f"  {'kafka':<14} {kafka.bootstrap_servers} ({where})",
            "Commands in another terminal reach it with:",
            "  export " + " ".join(f"{name}={value}" for name, value in sorted(kafka.env.items())),
        ]
    lines += [
        "Create an API key in another terminal:",
        f"  .venv/bin/caseweave keys create --org {organisations.ids[0]} --role frontline",
        "Stop with Ctrl-C.",
        "",
    ]
    return "\n".join(lines)


def run_everything(
    settings: Settings,
    database_url: str,
    *,
    embedded: EmbeddedPostgres | None = None,
    kafka: KafkaForUp | None = None,
) -> int:
    """Start every service, keep them (and the `embedded` database, and the local Kafka) running
    until Ctrl-C, then stop them all; return an exit code."""
    env = {**os.environ, "CASEWEAVE_DATABASE_URL": database_url, **(kafka.env if kafka else {})}
    services = [ServiceProcess(name, env) for name in up_services(settings)]
    stop = StopRequest()
    try:
        if not _wait_until_ready(settings, services):
            print("A service failed to start; see its log lines above.", file=sys.stderr)
            return 1
        print(_banner(settings, kafka), file=sys.stderr)
        # from now on, what dies restarts
        log.info("up_ready", services=list(up_services(settings)))
        supervised: list[Supervised] = [EmbeddedDatabase(embedded)] if embedded else []
        if kafka is not None and kafka.local is not None:
            supervised.append(LocalKafkaNode(kafka.local))
        supervised += services
        restarters = [Restarter(unit) for unit in supervised]
        while not stop.requested:
            for restarter in restarters:
                restarter.check(time.monotonic())
            time.sleep(0.2)
        return 0
    finally:
        _stop_all([service.process for service in services])

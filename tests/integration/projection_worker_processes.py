"""Projection workers as separate processes (`caseweave run projection-worker` in Kafka
mode), so that a test can kill one with SIGKILL as a crash would, and see what each is doing
in PostgreSQL by the `application_name` its connections carry.
"""

import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from services.runtime.database import Pool
from tests.e2e.system import free_port

STOP_SECONDS = 60.0


@dataclass(frozen=True)
class WorkerSetting:
    """What every worker of one test shares: the cluster, the database and the secrets."""

    bootstrap_servers: str
    database_url: str
    data_dir: Path
    id_secret: str
    master_key: str = field(default_factory=lambda: secrets.token_hex(32))

    def env(self, name: str) -> dict[str, str]:
        """Return the environment of the worker called `name`."""
        return {
            **os.environ,
            "CASEWEAVE_TRANSPORT": "kafka",
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "CASEWEAVE_DATABASE_URL": _named_connections(self.database_url, name),
            "CASEWEAVE_DATA_DIR": str(self.data_dir),
            "CASEWEAVE_ID_SECRET": self.id_secret,
            "CASEWEAVE_MASTER_KEY": self.master_key,
            # a killed worker's partitions wait this long for it: the broker's least
            "CASEWEAVE_KAFKA_SESSION_TIMEOUT_MS": "6000",
            "CASEWEAVE_WORKER_METRICS_PORT": str(free_port()),
        }


def _named_connections(database_url: str, name: str) -> str:
    """Return `database_url` with `application_name` set (asyncpg passes the query on)."""
    return f"{database_url}{'&' if '?' in database_url else '?'}application_name={name}"


class WorkerProcess:
    """One `caseweave run projection-worker` process, its output in a log file."""

    def __init__(self, name: str, setting: WorkerSetting) -> None:
        self.name = name
        self.log = setting.data_dir.parent / f"{name}.log"
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "run", "projection-worker"],
                env=setting.env(name), stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def kill(self) -> None:
        """Kill the worker at once (SIGKILL): no stop, no goodbye to its group."""
        self._process.send_signal(signal.SIGKILL)
        self._process.wait(STOP_SECONDS)

    def stop(self) -> None:
        """Ask the worker to stop (SIGTERM), as its supervisor would."""
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)

    def wait(self) -> int:
        """Return the worker's exit code once it has ended (killing it if it will not)."""
        try:
            return self._process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
            raise

    def ensure_gone(self) -> None:
        """Kill the worker if it is still running (cleanup after a failure)."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def batches_applied(self) -> int:
        """Return how many batches the worker has logged as applied (committed)."""
        return self.log.read_bytes().count(b'"message": "projection_batch"')


async def in_transaction(pool: Pool) -> set[str]:
    """Return the names of the workers that have a transaction open right now."""
    rows = await pool.fetch(
        "SELECT DISTINCT application_name FROM pg_stat_activity"
        " WHERE datname = current_database() AND xact_start IS NOT NULL"
        " AND application_name LIKE 'worker-%'"
    )
    return {row["application_name"] for row in rows}

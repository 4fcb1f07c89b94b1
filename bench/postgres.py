"""Where the benchmark's PostgreSQL comes from, and the fresh databases it runs in."""

import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg


@dataclass(frozen=True)
class Server:
    """A PostgreSQL server to benchmark on: its URL and where it came from."""

    url: str
    origin: str


def with_database(url: str, database: str) -> str:
    """Return `url` pointing at another database on the same server."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def _described(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'local socket'}:{parts.port or 5432}"


@contextmanager
def postgres_server(url: str | None) -> Iterator[Server]:
    """Yield the server at `url`, else an embedded one (pgserver) in a temporary directory."""
    if url:
        yield Server(url, f"given server {_described(url)}")
        return
    with tempfile.TemporaryDirectory(prefix="caseweave-bench-pg-") as directory:
        server = _start_embedded(Path(directory) / "pgdata")
        try:
            yield Server(server.get_uri(), "embedded pgserver in a temporary directory")
        finally:
            server.cleanup()


def _start_embedded(pgdata: Path) -> Any:  # Any: pgserver ships no types
    with warnings.catch_warnings():  # pgserver warns when XDG_RUNTIME_DIR is unset; harmless
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import get_server  # noqa: PLC0415 - only when none is named

        return get_server(pgdata, cleanup_mode="stop")


@asynccontextmanager
async def fresh_database(server_url: str, *, label: str) -> AsyncIterator[str]:
    """Create a uniquely named database, yield its URL, and drop it afterwards."""
    name = f"caseweave_bench_{label}_{uuid.uuid4().hex[:8]}"
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_url, name)
    finally:
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def server_settings(server_url: str) -> dict[str, str]:
    """Return the server settings that shape the figures (version, durability, memory)."""
    names = ("server_version", "fsync", "synchronous_commit", "shared_buffers", "wal_level")
    conn = await asyncpg.connect(server_url)
    try:
        return {name: str(await conn.fetchval(f"SHOW {name}")) for name in names}
    finally:
        await conn.close()


async def _admin(server_url: str, statement: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()

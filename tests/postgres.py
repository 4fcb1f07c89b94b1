"""Where the test suite's PostgreSQL comes from: a server named by a URL, else an embedded one."""

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

SERVER_URL_VARIABLE = "CASEWEAVE_TEST_DATABASE_URL"


def with_database(url: str, database: str) -> str:
    """Return `url` pointing at another database on the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@contextmanager
def postgres_server_url() -> Iterator[str]:
    """Yield the URL of a PostgreSQL server for this test run (embedded unless one is named)."""
    url = os.environ.get(SERVER_URL_VARIABLE)
    if url:
        yield url
        return
    import pgserver  # noqa: PLC0415 - only needed when no server is named

    with tempfile.TemporaryDirectory(prefix="caseweave-test-pg-") as directory:
        server = pgserver.get_server(Path(directory) / "pgdata", cleanup_mode="stop")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


async def create_database(server_url: str) -> str:
    """Create a fresh, uniquely named database and return its URL."""
    name = f"caseweave_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(server_url, name)

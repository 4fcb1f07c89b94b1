"""One transaction on one pooled connection: the unit of work every command runs in."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.runtime.database import Connection, Pool


@asynccontextmanager
async def transaction(pool: Pool) -> AsyncIterator[Connection]:
    """Yield a connection inside a transaction that commits when the block ends without error."""
    async with pool.acquire() as connection, connection.transaction():
        yield connection

"""One transaction on a pooled connection: what every PostgreSQL unit of work is made of.

`PooledTransaction` takes a connection from the pool and begins a transaction on entering,
rolls back whatever was not committed and gives the connection back on leaving. Joined to
a connection whose transaction somebody else owns (a consumer that records its position in
the same commit), it only binds: its owner begins, commits and releases. Subclasses bind
their stores to the connection in `_bind`.
"""

from types import TracebackType
from typing import Protocol, Self

from asyncpg.pool import PoolConnectionProxy
from asyncpg.transaction import Transaction

from services.runtime.database import Connection, Pool


class Transactional(Protocol):
    """What every unit of work is: a transaction its use case owns. Leaving the block without
    `commit()` rolls everything back."""

    async def __aenter__(self) -> Self:
        """Begin the transaction."""
        ...

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """End it: whatever was not committed is rolled back."""
        ...

    async def commit(self) -> None:
        """Make everything written in this unit of work durable, at once."""
        ...


class PooledTransaction:
    """A transaction of its own on a pooled connection, or one joined to its owner's."""

    def __init__(self, pool: Pool | None, *, conn: Connection | None = None) -> None:
        self._pool = pool  # None: joined to `conn`'s transaction, which its owner ends
        self._conn = conn
        self._transaction: Transaction | None = None
        self._committed = False

    @property
    def connection(self) -> Connection:
        """The transaction's connection, for a consumer's position in the same commit."""
        if self._conn is None:
            raise RuntimeError("the unit of work has not begun: use `async with`")
        return self._conn

    async def __aenter__(self) -> Self:
        """Take a connection from the pool and begin the transaction (joined: bind only)."""
        if self._pool is not None:
            acquired = await self._pool.acquire()
            try:
                self._transaction = acquired.transaction()
                await self._transaction.start()
            except BaseException:
                await self._pool.release(acquired)
                raise
            self._conn = acquired
        self._bind(self.connection)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Roll back what was not committed and give the connection back (joined: nothing)."""
        if self._pool is None or not isinstance(self._conn, PoolConnectionProxy):
            return  # joined: the transaction and the connection are its owner's
        try:
            if self._transaction is not None and not self._committed:
                await self._transaction.rollback()
        finally:
            await self._pool.release(self._conn)
            self._conn = None

    async def commit(self) -> None:
        """Commit the transaction (joined: its owner does)."""
        if self._transaction is not None:
            await self._transaction.commit()
        self._committed = True

    def _bind(self, conn: Connection) -> None:
        """Bind the stores to the transaction's connection."""
        raise NotImplementedError

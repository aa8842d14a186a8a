"""SQLite reads on a few threads, one hop per statement.

Through aiosqlite every DBAPI call is a round trip to the connection's thread: a
one-statement read transaction costs eight (cursor, BEGIN, close, cursor, execute,
fetch, close, rollback), about 1 ms of CPU, and under concurrent load each hop also
waits its turn on the event loop. Here a read runs SQLAlchemy's synchronous pysqlite
engine on a small thread pool instead: a statement (with the checkout and BEGIN on
the first one) is one hop and its rows come back buffered, closing is another. That
is about 0.2 ms per read, and sqlite3 releases the GIL while it works.

Writes stay on aiosqlite (``Database.write``): one writer, ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, Dialect, Engine, Executable, Result, create_engine

T = TypeVar("T")

STREAM_BATCH = 1000


class SqliteReader:
    """Read transactions on a pool of ``connections`` pysqlite connections, run on
    ``threads`` threads. A transaction takes its connection permit on the event loop,
    before any thread is involved, so a thread never blocks waiting for the pool."""

    def __init__(self, engine: Engine, *, connections: int, threads: int) -> None:
        self.engine = engine
        self.executor = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="sqlite-read")
        self.permits = asyncio.BoundedSemaphore(connections)

    @classmethod
    def open(cls, url: str, connect_args: dict[str, Any], *, connections: int, threads: int) -> SqliteReader:
        engine = create_engine(
            url,
            connect_args={**connect_args, "check_same_thread": False},  # handed between pool threads
            pool_size=connections,
            max_overflow=0,
        )
        return cls(engine, connections=connections, threads=threads)

    async def transaction(self) -> ThreadedReadConnection:
        await self.permits.acquire()
        return ThreadedReadConnection(self)

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.engine.dispose()


class ThreadedReadConnection:
    """The read side of ``AsyncConnection``: ``execute`` (rows buffered), ``stream``
    and ``dialect``. Operations on it run one after another, in order."""

    def __init__(self, reader: SqliteReader) -> None:
        self._reader = reader
        self._conn: Connection | None = None
        self._last: concurrent.futures.Future[Any] | None = None
        self._closed = False

    @property
    def dialect(self) -> Dialect:
        return self._reader.engine.dialect

    async def execute(
        self,
        statement: Executable,
        parameters: Any = None,
        *,
        execution_options: dict[str, Any] | None = None,
    ) -> Result[Any]:
        def run() -> Any:
            result = self._connection().execute(statement, parameters, execution_options=execution_options)
            return result.freeze()

        return (await self._call(run))()  # type: ignore[no-any-return]

    async def stream(self, statement: Executable, parameters: Any = None) -> AsyncIterator[Any]:
        """Rows in batches of the statement's ``yield_per`` (default 1,000), one hop each."""
        result: Result[Any] = await self._call(lambda: self._connection().execute(statement, parameters))
        size = statement.get_execution_options().get("yield_per") or STREAM_BATCH
        return self._rows(result, size)

    async def _rows(self, result: Result[Any], size: int) -> AsyncIterator[Any]:
        while rows := await self._call(lambda: result.fetchmany(size)):
            for row in rows:
                yield row

    def _connection(self) -> Connection:
        if self._closed:
            raise RuntimeError("this read transaction is closed")
        if self._conn is None:
            self._conn = self._reader.engine.connect()  # autobegins (BEGIN) on first use
        return self._conn

    async def _call(self, fn: Callable[[], T]) -> T:
        self._last = self._reader.executor.submit(fn)
        return await asyncio.wrap_future(self._last)

    def close(self) -> None:
        """Roll back and return the connection, after whatever still runs on it (a
        cancelled caller does not stop its thread); then give the permit back. Not
        awaited: nothing the caller does depends on it."""
        if self._closed:
            return
        self._closed = True
        last, loop = self._last, asyncio.get_running_loop()

        def finish() -> None:
            if last is not None:
                concurrent.futures.wait([last])
            if self._conn is not None:
                self._conn.close()

        done = self._reader.executor.submit(finish)
        done.add_done_callback(lambda _: loop.call_soon_threadsafe(self._reader.permits.release))

"""The gateway's database: SQLite by default, PostgreSQL at scale.

``Database.read()`` and ``Database.write()`` hand out connections in a
transaction. On SQLite, writes take the write lock up front (``BEGIN
IMMEDIATE``) so two writers queue on the busy timeout instead of failing on a
lock upgrade, and readers never block writers (WAL). Reads on SQLite run on a small thread
pool (``gateway.store.sqlite_reader``: one thread hop per statement instead of
aiosqlite's four). On PostgreSQL both are ordinary asyncpg transactions; row
locks and ``UPDATE ... RETURNING`` do the ordering.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from gateway.config import ConfigError
from gateway.store.sqlite_reader import SqliteReader, ThreadedReadConnection

SQLITE_BUSY_TIMEOUT_S = 30
# Concurrent SQLite read transactions, and the threads that run their statements.
SQLITE_READ_CONNECTIONS, SQLITE_READ_THREADS = 16, 4


# What ``Database.read()`` hands out: an ``AsyncConnection`` on PostgreSQL, a
# ``ThreadedReadConnection`` on SQLite (``execute``, ``stream`` and ``dialect``).
# Functions that only read take this, so that a write transaction serves too.
ReadConnection = AsyncConnection | ThreadedReadConnection


def async_url(url: str) -> str:
    """Map the config's plain URLs to their async drivers."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ConfigError("storage.url", f"unsupported database URL {url!r}")


def _sqlite_pragmas(immediate: bool):  # type: ignore[no-untyped-def]
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.close()

    def on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return on_connect, on_begin


class Database:
    def __init__(self, url: str, *, echo: bool = False, audit_key: bytes | None = None):
        self.url = url
        # The audit log's HMAC key (``gateway.governance.audit``): every write
        # connection carries it, so each appended event is signed with it.
        self.audit_key = audit_key
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        driver_url = async_url(url)
        self.sqlite_path: str | None = None
        if self.dialect == "sqlite":
            path = make_url(driver_url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                self.sqlite_path = str(Path(path).resolve())
            connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_S}
            self._sqlite_reader: SqliteReader | None = SqliteReader.open(
                "sqlite:///" + (path or ""),
                connect_args,
                connections=SQLITE_READ_CONNECTIONS,
                threads=SQLITE_READ_THREADS,
            )
            self._sqlite_reader.engine.echo = echo
            # One writer connection per process: in-process writers queue on the pool.
            self._writer = create_async_engine(
                driver_url,
                echo=echo,
                connect_args=connect_args,
                pool_size=1,
                max_overflow=0,
                pool_timeout=SQLITE_BUSY_TIMEOUT_S * 2,
            )
            for engine, immediate in ((self._sqlite_reader.engine, False), (self._writer.sync_engine, True)):
                on_connect, on_begin = _sqlite_pragmas(immediate)
                event.listen(engine, "connect", on_connect)
                event.listen(engine, "begin", on_begin)
        else:
            self._sqlite_reader = None
            self._writer = create_async_engine(
                driver_url, echo=echo, pool_size=10, max_overflow=10, pool_pre_ping=True
            )
            # Reads are snapshots (a page, its total and its facets agree) and read-only.
            self._pg_reader = self._writer.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )

    @property
    def engine(self) -> AsyncEngine:
        return self._writer

    @asynccontextmanager
    async def read(self) -> AsyncIterator[ReadConnection]:
        """A read transaction (a consistent snapshot), rolled back at the end."""
        if self._sqlite_reader is None:
            async with self._pg_reader.connect() as conn:
                yield conn
            return
        threaded = await self._sqlite_reader.transaction()
        try:
            yield threaded
        finally:
            threaded.close()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that commits on success and rolls back on any error."""
        async with self._writer.begin() as conn:
            conn.info["modelgate.audit_key"] = self.audit_key
            yield conn

    async def migrate(self) -> None:
        """Bring the schema to the newest migration (Alembic)."""
        from gateway.store.migrate import upgrade

        async with self._writer.begin() as conn:
            await conn.run_sync(upgrade)

    async def ping(self) -> None:
        from sqlalchemy import text

        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    async def aclose(self) -> None:
        if self._sqlite_reader is not None:
            await asyncio.to_thread(self._sqlite_reader.close)
        await self._writer.dispose()

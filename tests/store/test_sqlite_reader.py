"""``gateway.store.sqlite_reader``: read transactions on a thread pool behind a
permit per connection. Reads see a snapshot, a closed transaction refuses use,
and its permit comes back once closed (never before)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.store.database import Database
from gateway.store.sqlite_reader import SqliteReader, ThreadedReadConnection


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[SqliteReader]:
    path = tmp_path / "r.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (n INTEGER)")
        db.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(2500)])
    r = SqliteReader.open(f"sqlite:///{path}", {}, connections=2, threads=2)
    yield r
    r.close()


async def settle(reader: SqliteReader, permits: int) -> None:
    """Until ``permits`` are free again (closing hands the permit back from a thread)."""
    for _ in range(1000):
        if reader.permits._value == permits:  # the permit count is what is tested
            return
        await asyncio.sleep(0)
        await asyncio.to_thread(lambda: None)  # let the pool's finishing work run
    raise AssertionError(f"permits stayed at {reader.permits._value}")


async def test_a_read_executes_and_streams(reader: SqliteReader) -> None:
    conn = await reader.transaction()
    try:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 2500
        assert conn.dialect.name == "sqlite"
        streamed = [row.n async for row in await conn.stream(text("SELECT n FROM t ORDER BY n"))]
        assert streamed == list(range(2500))  # across several batches of 1,000
    finally:
        conn.close()


async def test_a_read_transaction_sees_one_snapshot(tmp_path: Path) -> None:
    # As the Database wires it (BEGIN on the first statement, WAL): a read that
    # runs several statements (a page, its total, its facets) sees one state.
    path = tmp_path / "r.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (n INTEGER)")
        db.execute("INSERT INTO t VALUES (1)")
    database = Database(f"sqlite:///{path}")
    try:
        async with database.read() as conn:
            assert isinstance(conn, ThreadedReadConnection)
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1
            with sqlite3.connect(path) as db:  # another writer commits meanwhile
                db.execute("INSERT INTO t VALUES (2)")
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1
        async with database.read() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 2
    finally:
        await database.aclose()


async def test_permits_bound_open_transactions_and_come_back_on_close(reader: SqliteReader) -> None:
    first, second = await reader.transaction(), await reader.transaction()
    third = asyncio.ensure_future(reader.transaction())
    await asyncio.sleep(0)
    assert not third.done()  # both connections are taken
    first.close()
    first.close()  # closing twice gives back one permit, not two
    conn = await asyncio.wait_for(third, 10)
    with pytest.raises(RuntimeError, match="closed"):
        await first.execute(text("SELECT 1"))
    for c in (second, conn):
        c.close()
    await settle(reader, 2)

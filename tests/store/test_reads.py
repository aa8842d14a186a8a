"""Read transactions, on both databases: snapshots, more readers than connections,
cancelled readers, streamed results. (On SQLite they run on the reader threads of
``gateway.store.sqlite_reader``; these are the promises that design must keep.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select, text

from gateway.store.database import SQLITE_READ_CONNECTIONS, Database

meta = MetaData()
numbers = Table("read_test_numbers", meta, Column("n", Integer, primary_key=True))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    async with database.write() as conn:
        await conn.run_sync(meta.drop_all)
        await conn.run_sync(meta.create_all)
        await conn.execute(insert(numbers), [{"n": i} for i in range(1, 2501)])
    yield database
    async with database.write() as conn:
        await conn.run_sync(meta.drop_all)
    await database.aclose()


async def count(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(numbers))).scalar_one())


async def test_a_read_is_one_snapshot_and_sees_what_was_committed_before_it(db: Database) -> None:
    async with db.read() as conn:
        before = (await conn.execute(select(func.count()).select_from(numbers))).scalar_one()
        async with db.write() as writer:
            await writer.execute(insert(numbers).values(n=9999))
        again = (await conn.execute(select(func.count()).select_from(numbers))).scalar_one()
    assert before == again == 2500  # the write committed meanwhile is not half-seen
    assert await count(db) == 2501  # a new read sees it


async def test_many_more_concurrent_readers_than_connections(db: Database) -> None:
    async def reader(i: int) -> int:
        async with db.read() as conn:
            first = (await conn.execute(select(numbers.c.n).where(numbers.c.n == i + 1))).scalar_one()
            await asyncio.sleep(0.001)  # hold the transaction across an await
            second = (await conn.execute(select(func.max(numbers.c.n)))).scalar_one()
        return int(first) + int(second)

    readers = SQLITE_READ_CONNECTIONS * 5
    totals = await asyncio.wait_for(asyncio.gather(*(reader(i) for i in range(readers))), 30)
    assert totals == [i + 1 + 2500 for i in range(readers)]


async def test_cancelled_readers_give_their_connections_back(db: Database) -> None:
    slow = text(  # a few hundred ms of work in the database, whichever it is
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) "
        "SELECT count(*) FROM c"
    )

    async def reader() -> None:
        async with db.read() as conn:
            await conn.execute(slow)

    tasks = [asyncio.create_task(reader()) for _ in range(SQLITE_READ_CONNECTIONS * 2)]
    await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    # Every connection comes back: as many readers as the pool holds, at once, still work.
    counts = await asyncio.wait_for(
        asyncio.gather(*(count(db) for _ in range(SQLITE_READ_CONNECTIONS * 2))), 60
    )
    assert set(counts) == {2500}


async def test_a_streamed_read_yields_every_row_in_order(db: Database) -> None:
    async with db.read() as conn:
        result = await conn.stream(select(numbers.c.n).order_by(numbers.c.n).execution_options(yield_per=300))
        seen = [row.n async for row in result]
    assert seen == list(range(1, 2501))


async def test_a_failed_statement_leaves_the_pool_usable(db: Database) -> None:
    for _ in range(SQLITE_READ_CONNECTIONS + 2):
        with pytest.raises(Exception, match=r"no_such_table|does not exist|no such table"):
            async with db.read() as conn:
                await conn.execute(text("SELECT * FROM no_such_table"))
    assert await count(db) == 2500


def test_reads_need_no_running_writer(tmp_path: Path) -> None:
    """A read-only command (``modelgate search``) on a fresh process: the reader
    opens its own connections and closes cleanly without any write first."""

    async def main() -> int:
        db = Database(f"sqlite:///{tmp_path}/fresh.db")
        try:
            async with db.read() as conn:
                return int((await conn.execute(text("SELECT 41 + 1"))).scalar_one())
        finally:
            await db.aclose()

    assert asyncio.run(main()) == 42

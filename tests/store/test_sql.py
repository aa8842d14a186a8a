"""``gateway.store.sql`` on both databases: inserts that skip existing keys, a
many-row upsert that updates every other column, and LIKE-escaped user text."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select

from gateway.store.database import Database
from gateway.store.sql import any_of, escape_like, insert_ignore, insert_many_ignore, upsert

scratch = MetaData()
things = Table(
    "scratch_things",
    scratch,
    Column("name", String(50), primary_key=True),
    Column("colour", String(20)),
    Column("size", Integer),
)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    async with database.write() as conn:
        await conn.run_sync(scratch.create_all)
    yield database
    await database.aclose()


async def rows(db: Database) -> list[tuple[str, str | None, int | None]]:
    async with db.read() as conn:
        return [tuple(r) for r in await conn.execute(select(things).order_by(things.c.name))]


async def test_an_existing_key_is_skipped_not_an_error(db: Database) -> None:
    async with db.write() as conn:
        await insert_ignore(conn, things, {"name": "a", "colour": "red", "size": 1})
        await insert_ignore(conn, things, {"name": "a", "colour": "blue", "size": 2})
        await insert_many_ignore(
            conn,
            things,
            [{"name": "a", "colour": "green", "size": 3}, {"name": "b", "colour": "green", "size": 3}],
        )
        await insert_many_ignore(conn, things, [])
    assert await rows(db) == [("a", "red", 1), ("b", "green", 3)]  # the first write of "a" stands


async def test_an_upsert_updates_the_other_columns_of_existing_keys(db: Database) -> None:
    async with db.write() as conn:
        await upsert(conn, things, [{"name": "a", "colour": "red", "size": 1}], key=["name"])
        await upsert(
            conn,
            things,
            [{"name": "a", "colour": "blue", "size": 5}, {"name": "b", "colour": "red", "size": 2}],
            key=["name"],
        )
        await upsert(conn, things, [], key=["name"])
    assert await rows(db) == [("a", "blue", 5), ("b", "red", 2)]


async def test_like_wildcards_in_user_text_match_literally(db: Database) -> None:
    async with db.write() as conn:
        await insert_many_ignore(
            conn, things, [{"name": n} for n in ["a_c", "abc", "a%c", "axxc", "a\\c", "ab\\c"]]
        )
    for text, expected in [("a_c", ["a_c"]), ("a%c", ["a%c"]), ("a\\c", ["a\\c"])]:
        async with db.read() as conn:
            found = await conn.execute(
                select(things.c.name).where(things.c.name.like(f"%{escape_like(text)}%", escape="\\"))
            )
            assert sorted(r[0] for r in found) == expected


async def test_any_of_matches_the_listed_values_in_one_statement_per_batch(db: Database) -> None:
    """``any_of``: an IN list on SQLite, one array parameter on PostgreSQL; the same rows."""
    async with db.write() as conn:
        await upsert(
            conn, things, [{"name": n, "colour": "red", "size": i} for i, n in enumerate("abcdef")], ["name"]
        )
    async with db.read() as conn:
        for wanted in (["b", "d", "zz"], [], ["a'quote", "f"], list("abcdef") * 3):
            query = select(things.c.name).where(any_of(conn.dialect.name, things.c.name, wanted))
            found = sorted((await conn.execute(query)).scalars())
            assert found == sorted(set(wanted) & set("abcdef"))

"""The audit log: hash-chained appends in the caller's transaction, tamper
detection (edit, delete, reorder, truncate), queries and exports, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update

from gateway.domain import utcnow
from gateway.governance import audit
from gateway.store.database import Database
from gateway.store.tables import audit_events as ae


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.migrate()
    yield database
    await database.aclose()


async def seed(db: Database, n: int = 6) -> None:
    async with db.write() as conn:
        await audit.append_many(
            conn,
            [
                audit.NewEvent(
                    "promotion.approved" if i % 2 else "version.registered",
                    f"user{i % 3}",
                    f"mg://platform/model-{i % 2}/{i}",
                    {"i": i, "metric": 0.5 + i, "text": "é ✓", "nan": float("nan")},
                )
                for i in range(1, n + 1)
            ],
        )


async def test_events_chain_and_verify(db: Database) -> None:
    await seed(db)
    async with db.write() as conn:
        last = await audit.append(conn, "policy.changed", audit.SYSTEM, None, {"digest": "abc"})
    result = await audit.verify(db)
    assert result.ok and result.events == 7 and result.head_hash == last.hash
    events = [e async for e in audit.iter_events(db)]
    assert [e.seq for e in events] == list(range(1, 8))
    assert events[0].prev_hash is None
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    assert events[0].details["nan"] == "nan"  # JSON has no NaN: stored as text, hash still verifies


@pytest.mark.parametrize(
    ("tamper", "bad_seq", "needle"),
    [
        (update(ae).where(ae.c.seq == 3).values(principal="someone-else"), 3, "edited"),
        (update(ae).where(ae.c.seq == 4).values(details={"i": 400}), 4, "edited"),
        (delete(ae).where(ae.c.seq == 3), 3, "deleted"),
        (delete(ae).where(ae.c.seq == 6), 6, "removed from the end"),
    ],
    ids=["edit-principal", "edit-details", "delete-middle", "delete-last"],
)
async def test_tampering_is_detected_at_the_first_bad_event(
    db: Database, tamper, bad_seq: int, needle: str
) -> None:
    await seed(db)
    async with db.write() as conn:
        await conn.execute(tamper)
    result = await audit.verify(db)
    assert not result.ok
    assert result.bad_seq == bad_seq
    assert needle in (result.problem or "")
    assert f"#{bad_seq}" in str(result)


async def test_reordering_is_detected(db: Database) -> None:
    await seed(db)
    async with db.write() as conn:  # swap events 2 and 5 (via a free sequence number)
        await conn.execute(update(ae).where(ae.c.seq == 2).values(seq=1000))
        await conn.execute(update(ae).where(ae.c.seq == 5).values(seq=2))
        await conn.execute(update(ae).where(ae.c.seq == 1000).values(seq=5))
    result = await audit.verify(db)
    assert not result.ok and result.bad_seq == 2


async def test_an_event_commits_with_its_change_or_not_at_all(db: Database) -> None:
    await seed(db, 2)
    with pytest.raises(RuntimeError):
        async with db.write() as conn:
            await audit.append(conn, "promotion.applied", "alice", "mg://r/m/1")
            raise RuntimeError("the change failed after the event was appended")
    assert [e.seq async for e in audit.iter_events(db)] == [1, 2]
    assert (await audit.verify(db)).ok


async def test_concurrent_appends_from_two_pools_keep_one_chain(database_url: str, db: Database) -> None:
    other = Database(database_url)
    try:

        async def writer(database: Database, name: str) -> None:
            for i in range(10):
                async with database.write() as conn:
                    await audit.append(conn, "promotion.approved", name, f"mg://r/{name}/{i}")

        await asyncio.gather(*(writer(d, f"w{i}") for i, d in enumerate([db, other, db, other])))
    finally:
        await other.aclose()
    result = await audit.verify(db)
    assert result.ok and result.events == 40


async def test_query_filters_and_keyset_paging(db: Database) -> None:
    await seed(db)
    everything = await audit.query_events(db, audit.AuditFilter(), 4, None)
    assert (
        [e.seq for e in everything.events] == [6, 5, 4, 3] and everything.has_next and everything.total == 6
    )
    rest = await audit.query_events(db, audit.AuditFilter(), 4, everything.cursors[-1])
    assert [e.seq for e in rest.events] == [2, 1] and not rest.has_next

    by_model = await audit.query_events(db, audit.AuditFilter(subject="mg://platform/model-1"), 50, None)
    assert [e.seq for e in by_model.events] == [5, 3, 1]  # the model's versions
    by_version = await audit.query_events(db, audit.AuditFilter(subject="mg://platform/model-1/3"), 50, None)
    assert [e.seq for e in by_version.events] == [3]
    by_principal = await audit.query_events(db, audit.AuditFilter(principal="user1"), 50, None)
    assert [e.seq for e in by_principal.events] == [4, 1]
    by_action = await audit.query_events(db, audit.AuditFilter(action="promotion.*"), 50, None)
    assert [e.seq for e in by_action.events] == [5, 3, 1]
    now = utcnow()
    assert (
        await audit.query_events(db, audit.AuditFilter(since=now + timedelta(hours=1)), 50, None)
    ).total == 0
    assert (
        await audit.query_events(db, audit.AuditFilter(until=now + timedelta(hours=1)), 50, None)
    ).total == 6


async def test_exports_round_trip_and_verify_on_their_own(db: Database) -> None:
    await seed(db)
    lines = [audit.to_jsonl(e) async for e in audit.iter_events(db)]
    assert audit.verify_events(audit.from_jsonl(lines), None).ok
    edited = [*lines[:2], lines[2].replace('"user0"', '"user9"'), *lines[3:]]
    broken = audit.verify_events(audit.from_jsonl(edited), None)
    assert not broken.ok and broken.bad_seq == 3

    text = audit.csv_header() + "".join([audit.to_csv(e) async for e in audit.iter_events(db)])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert (
        len(rows) == 6
        and rows[0]["action"] == "promotion.approved"
        and rows[1]["prevHash"] == rows[0]["hash"]
    )
    async with db.read() as conn:
        assert (await conn.execute(select(ae.c.hash).where(ae.c.seq == 6))).scalar() == rows[-1]["hash"]

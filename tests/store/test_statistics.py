"""``gateway.store.statistics``: ANALYZE runs when the versions table has doubled
(on a real PostgreSQL database; SQLite has no planner statistics to refresh)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.store import statistics
from gateway.store.database import Database
from gateway.store.statistics import GrowthAnalyzer, estimated_rows

REFRESHED = "planner statistics refreshed"


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite:///{tmp_path}/modelgate.db")
    await db.migrate()
    yield db
    await db.aclose()


async def test_sqlite_is_left_alone_and_rows_are_counted(
    sqlite: Database, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statistics, "MIN_GROWTH", 1)
    caplog.set_level(logging.INFO, logger=statistics.__name__)
    async with sqlite.write() as conn:
        await GrowthAnalyzer().added(conn, 1_000_000)
        await conn.execute(text("INSERT INTO native_changes (registry_id, seq) VALUES ('a', 1), ('b', 1)"))
        assert await estimated_rows(conn, "native_changes") == 2
    assert REFRESHED not in caplog.text


@pytest.mark.postgres
async def test_analyze_runs_each_time_the_table_doubles(
    postgres_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statistics, "MIN_GROWTH", 2)
    caplog.set_level(logging.INFO, logger=statistics.__name__)
    db = Database(postgres_url)
    analyzer = GrowthAnalyzer()
    runs: list[int] = []
    try:
        async with db.write() as conn:
            for added in (0, 1, 1, 1, 1, 3, 1):  # known: 0 -> 2 (at 2 added) -> 4 -> 8
                await analyzer.added(conn, added)
                runs.append(caplog.text.count(REFRESHED))
            reltuples = "SELECT reltuples FROM pg_class WHERE relname = 'catalogue_versions'"
            assert (await conn.execute(text(reltuples))).scalar() == 0  # analyzed: no longer -1
            assert await estimated_rows(conn, "catalogue_versions") == 0
    finally:
        await db.aclose()
    assert runs == [0, 0, 1, 1, 2, 2, 3]
    assert "about 8 versions" in caplog.text

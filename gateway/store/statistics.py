"""Planner statistics that keep up with a fast-growing index (PostgreSQL).

PostgreSQL plans from the statistics ANALYZE gathers. autovacuum gathers them
when a table has changed by a tenth, if it is on and has caught up; a first sync
that writes a million versions in minutes outruns it, and where autovacuum is
off nothing gathers them at all. Plans made for a table the planner believes is
small (or whose values it believes few) turn into scans as it grows.

``GrowthAnalyzer`` counts the rows a process adds and runs ANALYZE on the
catalogue's tables each time they have doubled since it last did (or since it
started): six times over a first sync of a million versions, each about a
second (ANALYZE reads a fixed sample of rows, whatever the table's size).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

log = logging.getLogger(__name__)

# The tables the index writer and its listeners grow, one row per version or more.
GROWING_TABLES = (
    "catalogue_models",
    "catalogue_versions",
    "catalogue_tags",
    "governance_violations",
    "lineage_edges",
    "lineage_artifacts",
    "stage_changes",
)
MIN_GROWTH = 20_000  # rows added before the first ANALYZE of a process
GROWTH_FACTOR = 1.0  # then each time the versions table has doubled


class GrowthAnalyzer:
    def __init__(self) -> None:
        self._known: int | None = None  # versions the planner's statistics know of
        self._added = 0
        self._failed = False

    async def added(self, conn: AsyncConnection, versions: int) -> None:
        """``versions`` rows were just added to the versions table in ``conn``'s
        transaction; ANALYZE the growing tables when they outgrew the statistics."""
        if conn.dialect.name != "postgresql" or self._failed or versions <= 0:
            return
        if self._known is None:
            tuples = (
                await conn.execute(
                    text("SELECT reltuples FROM pg_class WHERE relname = 'catalogue_versions'")
                )
            ).scalar()
            self._known = max(int(tuples or 0), 0)
        self._added += versions
        if self._added < max(MIN_GROWTH, GROWTH_FACTOR * self._known):
            return
        try:
            async with conn.begin_nested():  # a failure (not the owner) leaves the batch intact
                await conn.execute(text(f"ANALYZE {', '.join(GROWING_TABLES)}"))
        except Exception as error:  # statistics are an optimisation: never fail a write for them
            self._failed = True
            log.warning("could not ANALYZE the catalogue tables (%s); plans rely on autovacuum", error)
            return
        self._known += self._added
        self._added = 0
        log.info("planner statistics refreshed: the index holds about %d versions", self._known)


async def estimated_rows(conn: Any, table: str) -> int:
    """About how many rows ``table`` holds, for a progress total: PostgreSQL's
    statistics when it has them (no scan of a million rows for a number shown as
    "about"), else a count."""
    if conn.dialect.name == "postgresql":
        query = text("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(:table)")
        estimate = (await conn.execute(query, {"table": table})).scalar()
        if estimate is not None and estimate >= 0:
            return int(estimate)
    return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())

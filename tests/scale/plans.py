"""Statements as PostgreSQL runs them after five executions: captured while the
gateway works, then explained with ``plan_cache_mode = force_generic_plan``
(the plan a prepared statement settles on, whatever its parameter values)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

# Statements whose plan says nothing about the data's size.
_SKIPPED = re.compile(
    r"^\s*(SET|SHOW|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|ANALYZE|LOCK|TRUNCATE|select pg_|SELECT pg_)",
    re.I,
)


@contextmanager
def captured(engine: AsyncEngine) -> Iterator[dict[str, Any]]:
    """Every distinct statement run on ``engine`` meanwhile, with one set of its parameters."""
    statements: dict[str, Any] = {}

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, many: bool) -> None:
        if not _SKIPPED.match(statement):
            statements.setdefault(statement, parameters[0] if many and parameters else parameters)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)


async def generic_plans(engine: AsyncEngine, statements: dict[str, Any]) -> dict[str, str]:
    """Each statement's generic plan (EXPLAIN EXECUTE of it prepared), as text."""
    plans: dict[str, str] = {}
    async with engine.connect() as conn:
        await conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        for i, (statement, parameters) in enumerate(statements.items()):
            name = f"mg_plan_{i}"
            await conn.exec_driver_sql(f"PREPARE {name} AS {statement}")
            # EXPLAIN takes no parameters: the values go in as literals (a generic plan ignores them).
            args = ", ".join(_literal(v) for v in parameters or ())
            rows = await conn.exec_driver_sql(
                f"EXPLAIN EXECUTE {name}({args})" if args else f"EXPLAIN EXECUTE {name}"
            )
            plans[statement] = "\n".join(r[0] for r in rows)
            await conn.exec_driver_sql(f"DEALLOCATE {name}")
        await conn.rollback()
    return plans


def _literal(value: Any) -> str:
    """A parameter as an untyped SQL literal (EXECUTE casts it to the parameter's type)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (list, tuple)):
        text = (
            "{" + ",".join('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in value) + "}"
        )
    elif isinstance(value, dict):
        text = json.dumps(value)
    elif isinstance(value, datetime):
        text = value.isoformat()
    else:
        text = str(value)
    return "'" + text.replace("'", "''") + "'"


def scans_of(plans: dict[str, str], tables: tuple[str, ...]) -> dict[str, str]:
    """The statements whose plan reads one of ``tables`` whole (a Seq Scan, parallel or not)."""
    pattern = re.compile(r"Seq Scan on (" + "|".join(tables) + r")\b")
    return {s: p for s, p in plans.items() if pattern.search(p)}

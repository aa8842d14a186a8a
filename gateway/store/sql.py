"""Small SQL helpers that differ between SQLite and PostgreSQL, written once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def _insert(conn: AsyncConnection, table: Table) -> Any:
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


async def insert_ignore(conn: AsyncConnection, table: Table, values: Mapping[str, Any]) -> None:
    """INSERT that does nothing when a unique key already exists."""
    await conn.execute(_insert(conn, table).values(**values).on_conflict_do_nothing())


async def insert_many_ignore(conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT many rows, skipping those whose unique key already exists."""
    if rows:
        await conn.execute(_insert(conn, table).on_conflict_do_nothing(), list(rows))


async def upsert(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    key: Sequence[str],
) -> None:
    """INSERT ... ON CONFLICT (key) DO UPDATE every other column, for many rows."""
    if not rows:
        return
    stmt = _insert(conn, table)
    columns = [c for c in rows[0] if c not in key]
    stmt = stmt.on_conflict_do_update(index_elements=list(key), set_={c: stmt.excluded[c] for c in columns})
    await conn.execute(stmt, list(rows))


def escape_like(text: str) -> str:
    """Escape LIKE wildcards in user text (used with ``escape='\\\\'``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

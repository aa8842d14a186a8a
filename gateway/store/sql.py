"""Small SQL helpers that differ between SQLite and PostgreSQL, written once."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def _insert(conn: AsyncConnection, table: Table) -> Any:
    return _insert_for(conn.dialect.name, table)


def _insert_for(dialect: str, table: Table) -> Any:
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


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
    columns = tuple(c for c in rows[0] if c not in key)
    await conn.execute(_upsert_statement(conn.dialect.name, table, tuple(key), columns), list(rows))


@functools.lru_cache(maxsize=64)
def _upsert_statement(dialect: str, table: Table, key: tuple[str, ...], columns: tuple[str, ...]) -> Any:
    """Built once per table and column set: ``excluded`` copies every column of the
    table, which a sync writing batch after batch would otherwise pay each time."""
    stmt = _insert_for(dialect, table)
    return stmt.on_conflict_do_update(index_elements=list(key), set_={c: stmt.excluded[c] for c in columns})


def escape_like(text: str) -> str:
    """Escape LIKE wildcards in user text (used with ``escape='\\\\'``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

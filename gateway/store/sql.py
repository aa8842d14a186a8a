"""Small SQL helpers that differ between SQLite and PostgreSQL, written once."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, Text, any_, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import NullType


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


def any_of(dialect: str, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN values`` in the shape each database plans well, for batches.

    PostgreSQL: ``column = ANY($1)`` with the batch bound as ONE array parameter. An
    ``IN ($1, ..., $500)`` list is a statement per list length, and once a prepared
    statement turns generic (after five executions) PostgreSQL estimates 500 equality
    matches from the column's statistics and picks a parallel sequential scan as the
    table grows; an array parameter is estimated as a handful of values, so the plan
    stays an index scan at any table size, and one statement text serves every batch.
    SQLite: the expanding ``IN`` list, which it plans as index probes."""
    if dialect == "postgresql":
        element_type = column.type if not isinstance(column.type, NullType) else Text()
        values_type = postgresql.ARRAY(element_type)
        return column == any_(bindparam(None, list(values), type_=values_type))  # type: ignore[no-any-return]
    return column.in_(list(values))  # type: ignore[no-any-return]


def escape_like(text: str) -> str:
    """Escape LIKE wildcards in user text (used with ``escape='\\\\'``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

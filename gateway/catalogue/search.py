"""Search over the index: full text, filters, facets, sorting, keyset paging.

Full text is SQLite FTS5 (prefix queries, bm25 ranking) on the embedded store
and PostgreSQL's text search (``to_tsvector('simple', …)`` with a GIN index,
``ts_rank``) at scale. Every query term must match, as a word prefix, so
``fraud det`` finds ``fraud-detector``.

Paging is keyset-based: a cursor holds the sort key of the last row, so a page
boundary stays put while the index changes underneath a client.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Float,
    Integer,
    Subquery,
    and_,
    bindparam,
    distinct,
    exists,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles

from gateway.auth.access import visible
from gateway.catalogue.query import SUMMARY_FACETS, NameMatch, SearchFilter, SearchQuery, SortOrder
from gateway.codec import model_from_dict, version_from_dict
from gateway.cursors import decode_cursor
from gateway.domain import Model, ModelVersion, Stage
from gateway.store.tables import catalogue_models as cm
from gateway.store.tables import catalogue_tags as ct
from gateway.store.tables import catalogue_versions as cv
from gateway.store.tables import serving_traffic as st
from gateway.tokens import encode_token

T = TypeVar("T")

# Versions as seen from inside a model-level subquery: a separate alias, so the
# subquery never correlates with a versions table in the outer query.
cv_sub = cv.alias("cv_sub")
# Versions counted for "more than one PRODUCTION version": its own alias, so the count
# never correlates with the versions a facet joins in.
cv_prod = cv.alias("cv_prod")
# Tags joined in for the tag facet, apart from the tags a filter's subqueries read.
tag = ct.alias("tag")

STAGE_BITS = {Stage.DRAFT: 1, Stage.STAGING: 2, Stage.PRODUCTION: 4, Stage.ARCHIVED: 8}
TAG_FACET_LIMIT = 20
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class FacetCount:
    value: str
    count: int


@dataclass
class SearchPage(Generic[T]):
    items: list[T]
    cursors: list[str]
    total: int
    has_next: bool
    facets: dict[str, list[FacetCount]] = field(default_factory=dict)

    def keep(self, kept: Sequence[int], items: Sequence[T] | None = None) -> None:
        """Keep only the entries at ``kept`` with their cursors (``items``, one per
        kept entry, replace them); totals and facets stay the search's."""
        self.items = list(items) if items is not None else [self.items[i] for i in kept]
        self.cursors = [self.cursors[i] for i in kept]


def search_terms(query: str | None) -> list[str]:
    """The words of a query as the full-text index tokenises them."""
    return _WORD.findall((query or "").lower())


def stage_mask(stages: Iterable[Stage]) -> int:
    mask = 0
    for s in stages:
        mask |= STAGE_BITS[s]
    return mask


# --- full text ------------------------------------------------------------------


def _fulltext(dialect: str, table: Any, terms: list[str]) -> Subquery:
    """(id, rank) of rows matching every term; lower rank is better in both dialects."""
    if dialect == "sqlite":
        fts = f"{table.name}_fts"
        match = " ".join(f'"{t}"*' for t in terms)
        return (
            text(f"SELECT rowid AS id, bm25({fts}) AS rank FROM {fts} WHERE {fts} MATCH :match")
            .bindparams(match=match)
            .columns(Column("id", Integer), Column("rank", Float))
            .subquery("fts")
        )
    # The same expression as the GIN index, so the planner uses it.
    # PostgreSQL only: the stored, GIN-indexed tsvector the migration adds (not in the
    # table metadata, which both dialects share).
    vector: Any = literal_column(f"{table.name}.search_fts")
    query = func.to_tsquery(literal_column("'simple'"), " & ".join(f"{t}:*" for t in terms))
    return (
        select(table.c.id.label("id"), (-func.ts_rank(vector, query)).label("rank"))
        .where(vector.op("@@")(query))
        .subquery("fts")
    )


async def add_fulltext(conn: AsyncConnection, table: Any, uris: Sequence[str]) -> None:
    """Full-text entries for rows just inserted into ``table`` (by URI; as many as one
    IN list may hold): on SQLite one ``INSERT ... SELECT`` (see migration 0008: a
    trigger costs 8x more); PostgreSQL's tsvector is a generated column."""
    if conn.dialect.name != "sqlite" or not uris:
        return
    fts = f"{table.name}_fts"
    await conn.execute(
        text(
            f"INSERT INTO {fts}(rowid, search_text) "
            f"SELECT id, search_text FROM {table.name} WHERE uri IN :uris"
        ).bindparams(bindparam("uris", list(uris), expanding=True))
    )


def _fulltext_match(dialect: str, table: Any, terms: list[str]) -> ColumnElement[bool]:
    """Rows matching every term, without ranking: what totals and facets need."""
    if dialect == "sqlite":
        fts = f"{table.name}_fts"
        match = " ".join(f'"{t}"*' for t in terms)
        ids = text(f"SELECT rowid FROM {fts} WHERE {fts} MATCH :match").bindparams(match=match)
        return table.c.id.in_(ids.columns(Column("rowid", Integer)))
    query = func.to_tsquery(literal_column("'simple'"), " & ".join(f"{t}:*" for t in terms))
    return literal_column(f"{table.name}.search_fts").op("@@")(query)


# --- filters ---------------------------------------------------------------------


def _glob_of_like(pattern: str) -> str:
    """A LIKE pattern as a GLOB one: SQLite's LIKE ignores ASCII case, GLOB does not."""
    special = {"*": "[*]", "?": "[?]", "[": "[[]", "%": "*", "_": "?"}
    return "".join(special.get(c, c) for c in pattern)


class _CaseSensitiveLike(ColumnElement[bool]):
    """``expr LIKE pattern`` with case mattering on both dialects (see ``_compile_like``)."""

    inherit_cache = True
    type = Boolean()

    def __init__(self, expr: Any, pattern: str):
        self.expr = expr
        self.pattern = pattern


@compiles(_CaseSensitiveLike)
def _compile_like(element: _CaseSensitiveLike, compiler: Any, **kw: Any) -> str:
    expr = compiler.process(element.expr, **kw)
    if compiler.dialect.name == "sqlite":
        return f"({expr} GLOB {compiler.process(literal(_glob_of_like(element.pattern)), **kw)})"
    return f"({expr} LIKE {compiler.process(literal(element.pattern), **kw)})"


def _name_conditions(registry: Any, name: Any, matches: Iterable[NameMatch]) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    qualified = registry + literal(".") + name
    for m in matches:
        if m.op in ("=", "!="):
            registry_id, dot, model = m.value.partition(".")
            equal = and_(registry == registry_id, name == model) if dot else false()
            conds.append(equal if m.op == "=" else ~equal)
        elif m.op == "LIKE":
            conds.append(_CaseSensitiveLike(qualified, m.value))
        elif m.op == "ILIKE":
            conds.append(qualified.ilike(m.value))
        else:
            raise ValueError(f"unknown name comparator {m.op!r}")
    return conds


def _model_conditions(f: SearchFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if f.registries:
        conds.append(cm.c.registry_id.in_(f.registries))
    if f.teams:
        conds.append(cm.c.team.in_(f.teams))
    if f.stages:
        conds.append(cm.c.stage_mask.op("&")(stage_mask(f.stages)) != 0)
    if f.frameworks:
        conds.append(cm.c.framework.in_(f.frameworks))
    for k, v in f.tags:  # on the model, or on any of its versions
        conds.append(
            or_(
                exists(select(1).where(ct.c.subject_uri == cm.c.uri, ct.c.key == k, ct.c.value == v)),
                exists(
                    select(1)
                    .select_from(ct.join(cv_sub, cv_sub.c.uri == ct.c.subject_uri))
                    .where(cv_sub.c.model_uri == cm.c.uri, ct.c.key == k, ct.c.value == v)
                ),
            )
        )
    if f.compliant is not None:
        conds.append(~_model_violates() if f.compliant else _model_violates())
    if f.multiple_production is not None:
        multiple = _multiple_production(cm.c.uri)
        conds.append(multiple if f.multiple_production else ~multiple)
    if f.serving is not None:
        conds.append(_model_serving() if f.serving else ~_model_serving())
    conds.extend(_name_conditions(cm.c.registry_id, cm.c.name, f.names))
    for k, v in f.tags_not:
        conds.append(~exists(select(1).where(ct.c.subject_uri == cm.c.uri, ct.c.key == k, ct.c.value == v)))
    return conds


def _model_serving() -> ColumnElement[bool]:
    return exists(select(1).where(st.c.model_uri == cm.c.uri, st.c.percent > 0))


def _version_serving() -> ColumnElement[bool]:
    return exists(select(1).where(st.c.version_uri == cv.c.uri, st.c.percent > 0))


def _multiple_production(model_uri: Any) -> ColumnElement[bool]:
    """The model has more than one PRODUCTION version (one promotion should leave one).
    One grouped scan of the production versions, not a count per row."""
    doubled = (
        select(cv_prod.c.model_uri)
        .where(cv_prod.c.stage == Stage.PRODUCTION.value)
        .group_by(cv_prod.c.model_uri)
        .having(func.count() > 1)
    )
    return model_uri.in_(doubled)  # type: ignore[no-any-return]


def _version_in_multiple_production() -> ColumnElement[bool]:
    return and_(cv.c.stage == Stage.PRODUCTION.value, _multiple_production(cv.c.model_uri))


def _model_violates() -> ColumnElement[bool]:
    return exists(select(1).where(cv_sub.c.model_uri == cm.c.uri, cv_sub.c.compliant == false()))


def _version_compliant() -> ColumnElement[bool]:
    return or_(cv.c.compliant.is_(None), cv.c.compliant == true())


def _version_conditions(f: SearchFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if f.registries:
        conds.append(cv.c.registry_id.in_(f.registries))
    if f.teams:
        conds.append(cv.c.team.in_(f.teams))
    if f.stages:
        conds.append(cv.c.stage.in_([s.value for s in f.stages]))
    if f.frameworks:
        conds.append(cv.c.framework.in_(f.frameworks))
    for k, v in f.tags:
        conds.append(exists(select(1).where(ct.c.subject_uri == cv.c.uri, ct.c.key == k, ct.c.value == v)))
    if f.compliant is not None:
        conds.append(_version_compliant() if f.compliant else cv.c.compliant == false())
    if f.multiple_production is not None:
        multiple = _version_in_multiple_production()
        conds.append(multiple if f.multiple_production else ~multiple)
    if f.serving is not None:
        conds.append(_version_serving() if f.serving else ~_version_serving())
    conds.extend(_name_conditions(cv.c.registry_id, cv.c.model_name, f.names))
    for k, v in f.tags_not:
        conds.append(~exists(select(1).where(ct.c.subject_uri == cv.c.uri, ct.c.key == k, ct.c.value == v)))
    for ids in f.run_ids:
        conds.append(cv.c.record[("native", "run_id")].as_string().in_(sorted(ids)))
    return conds


# --- keyset paging ------------------------------------------------------------------


@dataclass(frozen=True)
class _Key:
    name: str
    column: Any
    kind: type  # of its value in a cursor
    descending: bool = False


def _after(keys: Sequence[_Key], values: dict[str, Any]) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in the order ``keys`` define (lexicographic)."""
    alternatives = []
    for i, key in enumerate(keys):
        equal = [k.column == values[k.name] for k in keys[:i]]
        step = key.column < values[key.name] if key.descending else key.column > values[key.name]
        alternatives.append(and_(*equal, step))
    return or_(*alternatives)


def _order(keys: Sequence[_Key]) -> list[Any]:
    return [k.column.desc() if k.descending else k.column.asc() for k in keys]


def _decode_cursor(cursor: str, keys: Sequence[_Key]) -> dict[str, Any]:
    return decode_cursor(cursor, {k.name: k.kind for k in keys}, hint="an earlier page of the same query")


def _resolve_sort(sort: SortOrder | None, terms: list[str]) -> SortOrder:
    if sort is None:
        return SortOrder.RELEVANCE if terms else SortOrder.NAME
    if sort is SortOrder.RELEVANCE and not terms:
        return SortOrder.NAME  # nothing to rank by
    return sort


# --- facets ---------------------------------------------------------------------------

MULTIPLE_PRODUCTION_FACET = "multipleProduction"


def _sorted(counter: Counter[str]) -> list[FacetCount]:
    return sorted((FacetCount(v, n) for v, n in counter.items() if n), key=lambda c: (-c.count, c.value))


async def _summary(
    conn: AsyncConnection, columns: Sequence[Any], base: Any, where: ColumnElement[bool], stage_bits: bool
) -> tuple[int, dict[str, list[FacetCount]]]:
    """Total and the low-cardinality facets in ONE scan: group by all of them at once
    (a few thousand groups at most) and add the groups up per facet here."""
    rows = await conn.execute(
        select(*columns, func.count()).select_from(base).where(where).group_by(*columns)
    )
    counters: dict[str, Counter[str]] = {name: Counter() for name in SUMMARY_FACETS}
    total = 0
    for registry, team, framework, stage, compliant, n in map(tuple, rows):
        total += n
        counters["registry"][registry] += n
        if team is not None:
            counters["team"][team] += n
        if framework is not None:
            counters["framework"][framework] += n
        if stage_bits:  # a model counts once under every stage one of its versions has
            for value, bit in STAGE_BITS.items():
                if stage & bit:
                    counters["stage"][value.value] += n
        else:
            counters["stage"][stage] += n
        counters["compliance"]["noncompliant" if compliant is False else "compliant"] += n
    return total, {name: _sorted(c) for name, c in counters.items()}


async def _tag_facet(
    conn: AsyncConnection, key: Any, value: Any, count: Any, source: Any, where: Any = None
) -> list[FacetCount]:
    query = select(key, value, count).select_from(source)
    if where is not None:
        query = query.where(where)
    query = query.group_by(key, value).order_by(count.desc(), key, value).limit(TAG_FACET_LIMIT)
    return [FacetCount(f"{k}={v}", int(n)) for k, v, n in await conn.execute(query)]


async def _model_tags(conn: AsyncConnection, base: Any, where: ColumnElement[bool]) -> list[FacetCount]:
    model_tags = select(tag.c.key, tag.c.value, cm.c.uri.label("m")).select_from(
        base.join(tag, tag.c.subject_uri == cm.c.uri)
    )
    version_tags = select(tag.c.key, tag.c.value, cm.c.uri.label("m")).select_from(
        base.join(cv_sub, cv_sub.c.model_uri == cm.c.uri).join(tag, tag.c.subject_uri == cv_sub.c.uri)
    )
    tags = union_all(model_tags.where(where), version_tags.where(where)).subquery("tags")
    return await _tag_facet(conn, tags.c.key, tags.c.value, func.count(distinct(tags.c.m)), tags)


async def _version_tags(conn: AsyncConnection, base: Any, where: ColumnElement[bool]) -> list[FacetCount]:
    tagged = base.join(tag, tag.c.subject_uri == cv.c.uri)
    return await _tag_facet(conn, tag.c.key, tag.c.value, func.count(), tagged, where)


async def _totals(
    conn: AsyncConnection,
    table: Any,
    base: Any,
    where: ColumnElement[bool],
    want_total: bool,
    facets: frozenset[str],
) -> tuple[int, dict[str, list[FacetCount]]]:
    total, result = 0, dict[str, list[FacetCount]]()
    if facets & SUMMARY_FACETS:
        if table is cm:
            columns = [cm.c.registry_id, cm.c.team, cm.c.framework, cm.c.stage_mask, cm.c.compliant]
        else:
            columns = [cv.c.registry_id, cv.c.team, cv.c.framework, cv.c.stage, cv.c.compliant]
        total, result = await _summary(conn, columns, base, where, stage_bits=table is cm)
    elif want_total:
        total = (await conn.execute(select(func.count()).select_from(base).where(where))).scalar_one()
    if "tag" in facets:
        result["tag"] = await (_model_tags if table is cm else _version_tags)(conn, base, where)
    if "conflicts" in facets:
        # Rows that state something impossible: today, more than one PRODUCTION version.
        multiple = _multiple_production(cm.c.uri) if table is cm else _version_in_multiple_production()
        count = (
            await conn.execute(select(func.count()).select_from(base).where(where, multiple))
        ).scalar_one()
        result["conflicts"] = _sorted(Counter({MULTIPLE_PRODUCTION_FACET: int(count)}))
    if "serving" in facets:
        serving = _model_serving() if table is cm else _version_serving()
        counts = await conn.execute(
            select(serving, func.count()).select_from(base).where(where).group_by(serving)
        )
        result["serving"] = _sorted(Counter({"serving" if s else "notServing": int(n) for s, n in counts}))
    return total, result


# --- the two searches ----------------------------------------------------------------


def _sort_keys(table: Any, sort: SortOrder, rank: Any) -> list[_Key]:
    if sort is SortOrder.UPDATED:
        return [_Key("updated", table.c.updated_order, int, descending=True), _Key("uri", table.c.uri, str)]
    if sort is SortOrder.RELEVANCE:
        return [_Key("rank", rank, float), _Key("uri", table.c.uri, str)]
    if table is cm:
        return [_Key("name", cm.c.name, str), _Key("uri", cm.c.uri, str)]
    return [
        _Key("name", cv.c.model_name, str),
        _Key("order", cv.c.version_order, int, descending=True),
        _Key("uri", cv.c.uri, str),
    ]


async def _search(
    conn: AsyncConnection,
    table: Any,
    conds: list[ColumnElement[bool]],
    q: SearchQuery,
) -> tuple[list[Any], list[str], int, bool, dict[str, list[FacetCount]]]:
    """One page of ``table`` (models or versions): records, cursors, total, more, facets."""
    query, first, after = q.text, q.first, q.after
    terms = search_terms(query)
    sort = _resolve_sort(q.sort, terms)
    base: Any = table
    rank: Any = literal(0.0)
    if terms:
        fts = _fulltext(conn.dialect.name, table, terms)
        base = table.join(fts, fts.c.id == table.c.id)
        rank = fts.c.rank
    if (allowed := visible(table, q.visibility)) is not None:  # page, total and facets alike
        conds.append(allowed)
    if query and query.strip() and not terms:
        conds.append(false())  # a query with no searchable words matches nothing
    where = and_(true(), *conds)
    keys = _sort_keys(table, sort, rank)
    page_query = (
        select(table.c.record, *(k.column.label(k.name) for k in keys)).select_from(base).where(where)
    )
    if after:
        page_query = page_query.where(_after(keys, _decode_cursor(after, keys)))
    rows = (await conn.execute(page_query.order_by(*_order(keys)).limit(first + 1))).all()
    # Totals and facets need which rows match, not how well: no ranking, no join.
    counted = and_(where, _fulltext_match(conn.dialect.name, table, terms)) if terms else where
    total, facet_counts = await _totals(conn, table, table, counted, q.want_total, frozenset(q.facets))
    page = rows[:first]
    cursors = [encode_token({k.name: getattr(r, k.name) for k in keys}) for r in page]
    return [r.record for r in page], cursors, total, len(rows) > first, facet_counts


async def search_models(conn: AsyncConnection, query: SearchQuery) -> SearchPage[Model]:
    conds = _model_conditions(query.filter)
    records, cursors, total, more, facet_counts = await _search(conn, cm, conds, query)
    return SearchPage([model_from_dict(r) for r in records], cursors, total, more, facet_counts)


async def search_versions(conn: AsyncConnection, query: SearchQuery) -> SearchPage[ModelVersion]:
    conds = _version_conditions(query.filter)
    if query.model_uri is not None:
        conds.append(cv.c.model_uri == query.model_uri)
    records, cursors, total, more, facet_counts = await _search(conn, cv, conds, query)
    return SearchPage([version_from_dict(r) for r in records], cursors, total, more, facet_counts)

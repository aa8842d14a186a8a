"""What a search asks, as one value: the resolver builds it once from the
GraphQL arguments and it travels unchanged to the index, its cache and the SQL.

A ``SearchQuery`` is frozen and hashable, so it is the search cache's key; its
``as_of`` is not (the page is trimmed after the cached search).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from gateway.auth.access import Visibility
from gateway.domain import Stage
from gateway.errors import BadInput

__all__ = ["ALL_FACETS", "SUMMARY_FACETS", "NameMatch", "SearchFilter", "SearchQuery", "SortOrder"]

# Facets computed from one grouped scan; the tag facet needs a join and runs only when asked.
SUMMARY_FACETS = frozenset({"registry", "team", "stage", "framework", "compliance"})
ALL_FACETS = SUMMARY_FACETS | {"tag", "conflicts", "serving"}


class SortOrder(enum.Enum):
    RELEVANCE = "RELEVANCE"
    NAME = "NAME"
    UPDATED = "UPDATED"


@dataclass(frozen=True)
class NameMatch:
    """A condition on a model's qualified name ``<registry-id>.<model-name>`` (how the
    MLflow-compatible API names models): ``op`` is ``=``, ``!=``, ``LIKE`` (case-sensitive
    on both dialects) or ``ILIKE``, ``value`` a name or a SQL LIKE pattern."""

    op: str
    value: str


@dataclass(frozen=True)
class SearchFilter:
    registries: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    stages: tuple[Stage, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    frameworks: tuple[str, ...] = ()
    compliant: bool | None = None
    # True: only models with more than one PRODUCTION version (and, for versions,
    # those PRODUCTION versions); False: only the others.
    multiple_production: bool | None = None
    # True: only what takes a share of some endpoint's traffic now (models: any
    # version does); False: only the others.
    serving: bool | None = None
    names: tuple[NameMatch, ...] = ()
    # (key, value): only what does NOT carry that tag with that value (itself, not its versions)
    tags_not: tuple[tuple[str, str], ...] = ()
    # Versions only: each entry is a set of run ids the version's run (its
    # registry's ``native.run_id``) must be one of.
    run_ids: tuple[frozenset[str], ...] = ()


@dataclass(frozen=True)
class SearchQuery:
    """One page of a search: free text, filter, paging, order, and what to count.

    ``facets`` and ``want_total`` name only what the caller shows (each costs a
    query); ``model_uri`` narrows a version search to one model; ``as_of`` asks
    for the catalogue as it was then (rows created later are left out)."""

    text: str | None = None
    filter: SearchFilter = SearchFilter()
    first: int = 20
    after: str | None = None
    sort: SortOrder | None = None
    facets: Collection[str] = ALL_FACETS
    want_total: bool = True
    visibility: Visibility | None = None
    model_uri: str | None = None
    as_of: datetime | None = None

    def __post_init__(self) -> None:
        if self.as_of is not None and self.as_of.tzinfo is None:
            raise BadInput("asOf needs a time zone (e.g. 2026-11-24T09:00:00Z)", field="asOf")
        object.__setattr__(self, "facets", frozenset(self.facets))

    @property
    def cache_key(self) -> SearchQuery:
        """The query the index answers: ``as_of`` trims the page afterwards."""
        return dataclasses.replace(self, as_of=None) if self.as_of is not None else self

"""``gateway.catalogue.search`` on both databases, against an index filled through
``CatalogueIndex`` and read on a plain connection: no gateway, no API. Full text
(every word a prefix), filters, facets, keyset paging and visibility."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.auth.access import Visibility
from gateway.catalogue.index import CatalogueIndex
from gateway.catalogue.query import SearchQuery
from gateway.catalogue.search import (
    FacetCount,
    SearchFilter,
    SearchPage,
    SortOrder,
    search_models,
    search_terms,
    search_versions,
    stage_mask,
)
from gateway.domain import Model, ModelVersion, Stage
from gateway.errors import BadInput
from gateway.store.database import Database

T0 = datetime(2026, 1, 1, tzinfo=UTC)
EVERYTHING = SearchFilter()


def model(registry: str, name: str, *stages: Stage, team: str | None = None, **fields: Any) -> Any:
    """A model with one version per stage given (version 1, 2, ... in that order)."""
    m = Model(registry, name, team=team, created_at=T0, **fields)
    versions = [
        ModelVersion(registry, name, str(i), stage=s, created_at=T0, team=team)
        for i, s in enumerate(stages or (Stage.DRAFT,), start=1)
    ]
    return m, versions


@pytest.fixture
async def index(database_url: str) -> AsyncIterator[CatalogueIndex]:
    db = Database(database_url)
    await db.migrate()
    yield CatalogueIndex(db)
    await db.aclose()


async def models(
    index: CatalogueIndex, query: str | None = None, f: SearchFilter = EVERYTHING, **kw: Any
) -> Any:
    kw.setdefault("facets", ())
    async with index.db.read() as conn:  # either dialect's reader speaks AsyncConnection
        first, after = kw.pop("first", 100), kw.pop("after", None)
        return await search_models(conn, SearchQuery(text=query, filter=f, first=first, after=after, **kw))


async def versions(
    index: CatalogueIndex, query: str | None = None, f: SearchFilter = EVERYTHING, **kw: Any
) -> Any:
    kw.setdefault("facets", ())
    async with index.db.read() as conn:
        first, after = kw.pop("first", 100), kw.pop("after", None)
        return await search_versions(conn, SearchQuery(text=query, filter=f, first=first, after=after, **kw))


def names(page: SearchPage[Any]) -> list[str]:
    return [m.name for m in page.items]


def test_terms_are_lowercase_words_and_stages_are_bits() -> None:
    assert search_terms("Fraud-Detector v2_final") == ["fraud", "detector", "v2", "final"]
    assert search_terms(None) == search_terms("  --  ") == []
    assert stage_mask([]) == 0
    assert stage_mask([Stage.DRAFT, Stage.PRODUCTION, Stage.PRODUCTION]) == 1 | 4


async def test_every_word_must_match_as_a_prefix(index: CatalogueIndex) -> None:
    await index.replace_models(
        [
            model("a", "fraud-detector"),
            model("a", "fraud-scorer"),
            model("a", "churn", description="detects churn"),
        ]
    )
    assert sorted(names(await models(index, "fraud det"))) == ["fraud-detector"]
    assert sorted(names(await models(index, "FRAU"))) == ["fraud-detector", "fraud-scorer"]
    assert sorted(names(await models(index, "det"))) == ["churn", "fraud-detector"]
    assert names(await models(index, "fraud walrus")) == []
    # Only punctuation: no word to search, so nothing matches (not everything).
    nothing = await models(index, "-- !!")
    assert (nothing.items, nothing.total) == ([], 0)
    # The total counts the matches, not the page.
    page = await models(index, "fraud", first=1)
    assert (len(page.items), page.total, page.has_next) == (1, 2, True)


async def test_name_order_pages_visit_every_model_once_and_hold_their_place(
    index: CatalogueIndex,
) -> None:
    await index.replace_models([model("a", n) for n in ["delta", "alpha", "echo", "charlie", "bravo"]])
    first = await models(index, first=2)
    assert names(first) == ["alpha", "bravo"] and first.has_next
    # A model sorted before the cursor arrives between the pages: the next page
    # starts after "bravo" still, neither repeating nor skipping.
    await index.replace_models([model("a", "aardvark")])
    second = await models(index, first=2, after=first.cursors[-1])
    assert names(second) == ["charlie", "delta"] and second.has_next
    third = await models(index, first=2, after=second.cursors[-1])
    assert names(third) == ["echo"] and not third.has_next


async def test_updated_order_is_newest_first(index: CatalogueIndex) -> None:
    await index.replace_models(
        [model("a", n, updated_at=T0 + timedelta(days=d)) for n, d in [("old", 1), ("new", 3), ("mid", 2)]]
    )
    page = await models(index, sort=SortOrder.UPDATED, first=2)
    assert names(page) == ["new", "mid"]
    rest = await models(index, sort=SortOrder.UPDATED, after=page.cursors[-1])
    assert names(rest) == ["old"]


async def test_relevance_without_words_sorts_by_name(index: CatalogueIndex) -> None:
    await index.replace_models([model("a", n) for n in ["b", "c", "a"]])
    assert names(await models(index, sort=SortOrder.RELEVANCE)) == ["a", "b", "c"]


async def test_a_cursor_of_another_sort_is_refused(index: CatalogueIndex) -> None:
    await index.replace_models([model("a", n) for n in ["x", "y"]])
    by_name = await models(index, first=1)
    with pytest.raises(BadInput) as caught:
        await models(index, sort=SortOrder.UPDATED, after=by_name.cursors[0])
    assert caught.value.extensions["field"] == "after"
    with pytest.raises(BadInput):
        await models(index, after="not-a-cursor")


async def test_versions_page_by_model_then_newest_version(index: CatalogueIndex) -> None:
    await index.replace_models([model("a", "m", *[Stage.DRAFT] * 3), model("a", "k", Stage.DRAFT)])
    page = await versions(index, first=3)
    assert [v.uri for v in page.items] == ["mg://a/k/1", "mg://a/m/3", "mg://a/m/2"]
    rest = await versions(index, after=page.cursors[-1])
    assert [v.uri for v in rest.items] == ["mg://a/m/1"]
    one_model = await versions(index, model_uri="mg://a/k")
    assert [v.uri for v in one_model.items] == ["mg://a/k/1"]


async def test_filters_narrow_models_and_versions(index: CatalogueIndex) -> None:
    await index.replace_models(
        [
            model("a", "fraud", Stage.DRAFT, Stage.PRODUCTION, team="risk", tags={"domain": "payments"}),
            model("a", "churn", Stage.STAGING, team="growth"),
            model("b", "ranker", Stage.ARCHIVED, team="risk"),
        ]
    )
    assert names(await models(index, f=SearchFilter(registries=("b",)))) == ["ranker"]
    assert sorted(names(await models(index, f=SearchFilter(teams=("risk",))))) == ["fraud", "ranker"]
    # A model is in a stage when any of its versions is.
    assert names(await models(index, f=SearchFilter(stages=(Stage.PRODUCTION,)))) == ["fraud"]
    assert names(await models(index, f=SearchFilter(stages=(Stage.DRAFT, Stage.STAGING)))) == [
        "churn",
        "fraud",
    ]
    # Versions filter on their own stage.
    prod = await versions(index, f=SearchFilter(stages=(Stage.PRODUCTION,)))
    assert [v.uri for v in prod.items] == ["mg://a/fraud/2"]
    # A model's tag finds the model, and not its versions (which do not carry it).
    assert names(await models(index, f=SearchFilter(tags=(("domain", "payments"),)))) == ["fraud"]
    assert (await versions(index, f=SearchFilter(tags=(("domain", "payments"),)))).total == 0
    assert (await models(index, f=SearchFilter(tags=(("domain", "other"),)))).total == 0


async def test_a_version_tag_finds_its_model(index: CatalogueIndex) -> None:
    m, vs = model("a", "fraud", Stage.DRAFT, Stage.DRAFT)
    vs[1] = ModelVersion("a", "fraud", "2", created_at=T0, tags={"gpu": "a100"})
    await index.replace_models([(m, vs), model("a", "churn")])
    gpu = SearchFilter(tags=(("gpu", "a100"),))
    assert names(await models(index, f=gpu)) == ["fraud"]
    assert [v.uri for v in (await versions(index, f=gpu)).items] == ["mg://a/fraud/2"]


async def test_more_than_one_production_version_is_a_filter_and_a_facet(index: CatalogueIndex) -> None:
    await index.replace_models(
        [
            model("a", "twice", Stage.PRODUCTION, Stage.PRODUCTION, Stage.DRAFT),
            model("a", "once", Stage.PRODUCTION, Stage.DRAFT),
        ]
    )
    doubled = SearchFilter(multiple_production=True)
    assert names(await models(index, f=doubled)) == ["twice"]
    assert names(await models(index, f=SearchFilter(multiple_production=False))) == ["once"]
    found = sorted(v.uri for v in (await versions(index, f=doubled)).items)
    assert found == ["mg://a/twice/1", "mg://a/twice/2"]
    page = await models(index, facets=["conflicts"])
    assert page.facets["conflicts"] == [FacetCount("multipleProduction", 1)]


async def test_facets_count_the_matches(index: CatalogueIndex) -> None:
    await index.replace_models(
        [
            model("a", "fraud", Stage.DRAFT, Stage.PRODUCTION, team="risk", tags={"domain": "payments"}),
            model("a", "churn", Stage.DRAFT, team="growth", tags={"domain": "payments"}),
            model("b", "ranker", Stage.STAGING, team="risk"),
        ]
    )
    page = await models(index, facets=["registry", "team", "stage", "tag"])
    assert page.total == 3
    assert page.facets["registry"] == [FacetCount("a", 2), FacetCount("b", 1)]
    assert page.facets["team"] == [FacetCount("risk", 2), FacetCount("growth", 1)]
    # A model counts once under every stage one of its versions has.
    assert page.facets["stage"] == [
        FacetCount("DRAFT", 2),
        FacetCount("PRODUCTION", 1),
        FacetCount("STAGING", 1),
    ]
    assert page.facets["tag"] == [FacetCount("domain=payments", 2)]
    assert "compliance" in page.facets and "serving" not in page.facets  # only what was asked

    # Facets follow the query and filters, not the whole index.
    narrowed = await models(index, "fra", facets=["registry"])
    assert narrowed.facets["registry"] == [FacetCount("a", 1)]
    version_stages = await versions(index, facets=["stage"], f=SearchFilter(teams=("risk",)))
    assert version_stages.facets["stage"] == [
        FacetCount("DRAFT", 1),
        FacetCount("PRODUCTION", 1),
        FacetCount("STAGING", 1),
    ]


async def test_restricted_rows_are_hidden_from_page_total_and_facets(index: CatalogueIndex) -> None:
    await index.replace_models(
        [
            model("a", "open", team="growth"),
            model("a", "secret", team="risk", tags={"restricted": "true"}),
            model("vault", "kept", team="growth"),
        ]
    )
    outsider = Visibility(teams=frozenset({"growth"}), restricted_registries=frozenset({"vault"}))
    page = await models(index, visibility=outsider, facets=["team"])
    # "kept" is in a restricted registry, but its team is the caller's.
    assert (sorted(names(page)), page.total) == (["kept", "open"], 2)
    assert page.facets["team"] == [FacetCount("growth", 2)]
    assert (await models(index, "secret", visibility=outsider)).total == 0
    stranger = Visibility(restricted_registries=frozenset({"vault"}))
    assert names(await models(index, visibility=stranger)) == ["open"]
    assert [v.model_name for v in (await versions(index, visibility=stranger)).items] == ["open"]
    insider = Visibility(teams=frozenset({"risk"}))
    assert sorted(names(await models(index, visibility=insider))) == ["kept", "open", "secret"]
    assert (await models(index)).total == 3  # no visibility: everything (admin)

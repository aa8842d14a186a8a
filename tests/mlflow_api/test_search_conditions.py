"""The catalogue conditions the MLflow API's filters become, on SQLite and
PostgreSQL: qualified names (=, !=, case-sensitive LIKE, ILIKE), tag != and run ids."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.catalogue.query import NameMatch, SearchFilter, SearchQuery
from gateway.domain import Model, ModelVersion
from gateway.runtime import Gateway
from tests.support import make_settings


@pytest.fixture
async def gw(database_url: str, tmp_path: Path) -> AsyncIterator[Gateway]:
    gateway = await Gateway.open(make_settings(database_url, tmp_path))
    try:
        models = [
            ("platform", "Fraud-Detector", {"team": "fraud"}, "run-1"),
            ("platform", "fraud_scorer", {"mlflow.prompt.is_prompt": "true"}, "run-2"),
            ("research", "fraud-detector", {}, None),
        ]
        await gateway.index.replace_models(
            [
                (
                    Model(registry, name, tags=tags),
                    [ModelVersion(registry, name, "1", native={"run_id": run} if run else {})],
                )
                for registry, name, tags, run in models
            ]
        )
        yield gateway
    finally:
        await gateway.aclose()


async def _models(gw: Gateway, f: SearchFilter) -> list[str]:
    page = await gw.index.search_models(SearchQuery(filter=f, first=50, facets=(), want_total=False))
    return sorted(f"{m.registry_id}.{m.name}" for m in page.items)


async def _versions(gw: Gateway, f: SearchFilter) -> list[str]:
    page = await gw.index.search_versions(SearchQuery(filter=f, first=50, facets=(), want_total=False))
    return sorted(f"{v.registry_id}.{v.model_name}" for v in page.items)


async def test_qualified_names(gw: Gateway) -> None:
    def names(*matches: NameMatch) -> SearchFilter:
        return SearchFilter(names=matches)

    assert await _models(gw, names(NameMatch("=", "research.fraud-detector"))) == ["research.fraud-detector"]
    assert await _models(gw, names(NameMatch("=", "fraud-detector"))) == []  # no registry part
    assert await _models(gw, names(NameMatch("!=", "research.fraud-detector"))) == [
        "platform.Fraud-Detector",
        "platform.fraud_scorer",
    ]
    # LIKE minds case on both dialects (SQLite's own LIKE would not); _ is one character.
    assert await _models(gw, names(NameMatch("LIKE", "%.fraud%"))) == [
        "platform.fraud_scorer",
        "research.fraud-detector",
    ]
    assert await _models(gw, names(NameMatch("LIKE", "platform.fraud_s%"))) == ["platform.fraud_scorer"]
    assert await _models(gw, names(NameMatch("ILIKE", "%.FRAUD-%"))) == [
        "platform.Fraud-Detector",
        "research.fraud-detector",
    ]
    assert await _versions(gw, names(NameMatch("LIKE", "platform.%"), NameMatch("ILIKE", "%det%"))) == [
        "platform.Fraud-Detector"
    ]


async def test_tag_not_and_run_ids(gw: Gateway) -> None:
    assert await _models(gw, SearchFilter(tags_not=(("mlflow.prompt.is_prompt", "true"),))) == [
        "platform.Fraud-Detector",
        "research.fraud-detector",
    ]
    assert await _versions(gw, SearchFilter(run_ids=(frozenset({"run-1", "run-9"}),))) == [
        "platform.Fraud-Detector"
    ]
    both = SearchFilter(run_ids=(frozenset({"run-1", "run-2"}), frozenset({"run-2"})))
    assert await _versions(gw, both) == ["platform.fraud_scorer"]

"""The index's batched writes, on both databases: full-text entries follow every
insert, change and removal (SQLite's come from the index itself, not a trigger;
migration 0008), and the stage history's newest-change lookup stays right once
PostgreSQL plans its prepared statements generically (after five runs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.catalogue.index import SearchFilter, SearchQuery
from gateway.domain import Model, ModelVersion, Stage
from gateway.runtime import Gateway
from gateway.serving.history import latest_stages
from tests.support import make_settings


@pytest.fixture
async def gw(database_url: str, tmp_path: Path) -> AsyncIterator[Gateway]:
    gateway = await Gateway.open(make_settings(database_url, tmp_path))
    try:
        yield gateway
    finally:
        await gateway.aclose()


def pair(name: str, description: str, versions: int = 2) -> tuple[Model, list[ModelVersion]]:
    model = Model("platform", name, description=description)
    return model, [
        ModelVersion("platform", name, str(v), description=f"{description} v{v}")
        for v in range(1, versions + 1)
    ]


async def found(gw: Gateway, text: str) -> list[str]:
    page = await gw.index.search_models(SearchQuery(text, SearchFilter(), 100, None, facets=()))
    return sorted(m.name for m in page.items)


async def found_versions(gw: Gateway, text: str) -> list[str]:
    page = await gw.index.search_versions(SearchQuery(text, SearchFilter(), 100, None, facets=()))
    return sorted(v.uri for v in page.items)


async def test_full_text_follows_inserts_changes_and_removals(gw: Gateway) -> None:
    # One batch of many models (the bulk path) and one of a single model.
    await gw.index.replace_models([pair(f"bulk-{i}", f"walrus forecaster {i}") for i in range(30)])
    await gw.index.replace_models([pair("lonely", "narwhal ranker")])
    assert len(await found(gw, "walrus")) == 30
    assert await found(gw, "narwhal") == ["lonely"]
    assert len(await found_versions(gw, "walrus")) == 60

    # A changed description replaces the model's words; an unchanged batch adds nothing.
    await gw.index.replace_models([pair("lonely", "octopus ranker")])
    await gw.index.replace_models([pair(f"bulk-{i}", f"walrus forecaster {i}") for i in range(30)])
    assert await found(gw, "narwhal") == []
    assert await found(gw, "octopus") == ["lonely"]
    assert len(await found(gw, "walrus")) == 30

    # A version added to an indexed model is found; removed versions and models are not.
    await gw.index.replace_models([pair("bulk-0", "walrus forecaster 0", versions=3)])
    assert "mg://platform/bulk-0/3" in await found_versions(gw, "walrus")
    await gw.index.replace_models([pair("bulk-1", "walrus forecaster 1", versions=1)])
    assert "mg://platform/bulk-1/2" not in await found_versions(gw, "walrus")
    await gw.index.remove_models("platform", ["lonely"])
    assert await found(gw, "octopus") == []

    # Removed and indexed again: found once, not twice.
    await gw.index.replace_models([pair("lonely", "octopus ranker")])
    assert await found(gw, "octopus") == ["lonely"]
    assert await found_versions(gw, "octopus") == ["mg://platform/lonely/1", "mg://platform/lonely/2"]


async def test_newest_stage_change_is_found_batch_after_batch(gw: Gateway) -> None:
    # Each version moves DRAFT -> STAGING -> PRODUCTION over the batches, so the
    # newest change differs from the oldest; ten lookups run past PostgreSQL's
    # five custom plans of a prepared statement.
    names = [f"m{i}" for i in range(40)]
    for stage in (Stage.DRAFT, Stage.STAGING, Stage.PRODUCTION):
        for part in range(0, len(names), 10):
            batch = [
                (Model("platform", n), [ModelVersion("platform", n, "1", stage=stage)])
                for n in names[part : part + 10]
            ]
            await gw.index.replace_models(batch)
    uris = [f"mg://platform/{n}/1" for n in names]
    for _ in range(10):
        async with gw.index.db.read() as conn:
            latest = await latest_stages(conn, uris)
        assert latest == dict.fromkeys(uris, Stage.PRODUCTION)
    async with gw.index.db.read() as conn:
        assert await latest_stages(conn, ["mg://platform/never/1"]) == {}


async def test_a_model_twice_in_one_batch_is_indexed_once_as_the_last_says(gw: Gateway) -> None:
    first, last = pair("twice", "beluga scorer"), pair("twice", "orca scorer", versions=3)
    model, versions = last
    await gw.index.replace_models([first, pair("other", "beluga other"), (model, [*versions, versions[0]])])
    assert await found(gw, "orca") == ["twice"]
    assert await found(gw, "beluga") == ["other"]
    assert len(await found_versions(gw, "orca")) == 3
    # Later writes of it (updates, removal) find its full-text entries intact.
    await gw.index.replace_models([pair("twice", "manatee scorer")])
    assert await found(gw, "manatee") == ["twice"]
    await gw.index.remove_models("platform", ["twice"])
    assert await found(gw, "manatee") == []

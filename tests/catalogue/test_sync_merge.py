"""The full sync's join of the model listing and the all-versions listing
(``gateway.catalogue.listings.ListingJoin``) and its batching of the details
pass (``gateway.catalogue.pipeline.by_versions``), driven by the in-memory registry: no index, no gateway."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from typing import Any

import pytest

from adapters.base import Page
from gateway.catalogue.listings import ListingJoin
from gateway.catalogue.pipeline import by_versions as _by_versions
from gateway.catalogue.sync import _all_versions
from gateway.domain import Model, ModelVersion
from gateway.errors import RegistryUnavailable
from tests.fakes.memory_registry import PagedBulkRegistry

Pair = tuple[Model, list[ModelVersion]]


async def merged(reg: PagedBulkRegistry, *, paced: bool = True) -> list[Pair | None]:
    join = ListingJoin(
        reg.list_models, reg.list_all_versions, functools.partial(_all_versions, reg), paced=paced
    )
    return [p async for p in join]


def by_model(items: Sequence[Pair | None]) -> dict[str, list[str]]:
    """Each yielded model's versions; a model yielded twice keeps its last versions."""
    return {m.name: sorted(v.version for v in vs) for m, vs in (p for p in items if p is not None)}


class OrderRecording(PagedBulkRegistry):
    """Records the order of its listing calls, to see the versions listing's pacing."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.log: list[str] = []

    async def list_models(self, page_token: str | None = None) -> Page[Model]:
        self.log.append("models")
        for _ in range(5):  # a slower listing: the loop runs others meanwhile (no timer)
            await asyncio.sleep(0)
        return await super().list_models(page_token)

    async def list_all_versions(self, page_token: str | None = None) -> Page[ModelVersion]:
        self.log.append("versions")
        return await super().list_all_versions(page_token)


async def test_every_model_comes_once_with_all_its_versions() -> None:
    reg = PagedBulkRegistry("mem", page_size=3, version_page_size=4)
    for i in range(10):
        reg.put(f"m{i}", versions=i % 3 + 1)
    items = await merged(reg)
    pairs = [p for p in items if p is not None]
    assert sorted(m.name for m, _ in pairs) == [f"m{i}" for i in range(10)]  # each once
    assert by_model(items) == {f"m{i}": [str(v) for v in range(1, i % 3 + 2)] for i in range(10)}
    assert None in items and items[-1] is None  # page boundaries, and one after the end
    assert reg.calls["list_versions"] == 0  # the bulk listing sufficed


async def test_a_model_without_versions_comes_at_the_end() -> None:
    reg = PagedBulkRegistry("mem", page_size=2, version_page_size=2)
    for name in ("a", "b", "c"):
        reg.put(name, versions=2)
    reg.put("empty", versions=0)  # sorted among the others, but no version names it
    pairs = [p for p in await merged(reg) if p is not None]
    assert [m.name for m, _ in pairs][-1] == "empty"
    assert pairs[-1][1] == []


async def test_versions_of_a_model_not_listed_are_dropped() -> None:
    reg = PagedBulkRegistry("mem")
    reg.put("kept", versions=1)
    reg.put("deleted-meanwhile", versions=2)
    del reg.models["deleted-meanwhile"]  # listed as versions, gone from the models listing
    assert by_model(await merged(reg)) == {"kept": ["1"]}


async def test_versions_that_come_apart_are_reread_whole() -> None:
    # By version number first: every model's version 1, then every version 2, ...
    # so a model is complete only at the end; one that was yielded early is re-read.
    reg = PagedBulkRegistry("mem", page_size=2, version_page_size=2, order="number")
    for i in range(4):
        reg.put(f"m{i}", versions=3)
    items = await merged(reg)
    assert by_model(items) == {f"m{i}": ["1", "2", "3"] for i in range(4)}
    names = [m.name for m, _ in (p for p in items if p is not None)]
    twice = {n for n in names if names.count(n) == 2}
    assert twice and len(names) == 4 + len(twice)  # some yielded early, then once more whole
    assert reg.calls["list_versions"] >= len(twice)  # re-read through the per-model listing


async def test_the_versions_listing_never_runs_ahead_of_the_models_listing() -> None:
    reg = OrderRecording("mem", page_size=2, version_page_size=2)
    for i in range(8):
        reg.put(f"m{i}", versions=1)
    await merged(reg)
    calls = reg.log
    models_pages = calls.count("models")
    version_calls = [i for i, c in enumerate(calls) if c == "versions"]
    assert len(version_calls) > 1 and models_pages > 1
    # The k-th versions page is asked only once k models pages have been asked
    # (or the models listing has ended).
    for k, at in enumerate(version_calls, start=1):
        assert calls[:at].count("models") >= min(k, models_pages)


async def test_a_failing_listing_ends_the_merge_with_its_error() -> None:
    reg = PagedBulkRegistry("mem", page_size=1)
    for i in range(3):
        reg.put(f"m{i}")
    reg.failing = True
    with pytest.raises(RegistryUnavailable):
        await merged(reg)


def test_details_are_read_in_parts_of_about_a_size_of_whole_models() -> None:
    def pair(name: str, versions: int) -> Pair:
        return Model("r", name), [ModelVersion("r", name, str(v)) for v in range(versions)]

    batch = [pair("a", 3), pair("b", 3), pair("c", 1), pair("d", 5), pair("e", 1)]
    parts = _by_versions(batch, 4)
    assert [[m.name for m, _ in part] for part in parts] == [["a", "b"], ["c", "d"], ["e"]]
    assert [p for part in parts for p in part] == batch  # nothing lost, nothing reordered
    assert _by_versions([], 4) == []
    big = pair("big", 10)
    assert _by_versions([big], 4) == [[big]]  # a model is never split

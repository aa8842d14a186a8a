"""The join of the two bulk listings and the full sync's batching, without a
gateway: listings are paged lists, the join is read to its end."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from adapters.protocol import Page
from gateway.catalogue.listings import ListingJoin
from gateway.catalogue.pipeline import (
    BATCH_SIZE,
    FIRST_BATCH_SIZE,
    FULL_SYNC_BATCH_SIZE,
    SMALL_BATCHES_UNTIL,
    batch_size,
    by_versions,
)
from gateway.domain import Model, ModelVersion


def paged(pages: Sequence[list[Any]]) -> Callable[[str | None], Awaitable[Page[Any]]]:
    async def fetch(token: str | None) -> Page[Any]:
        at = int(token or 0)
        return Page(pages[at], str(at + 1) if at + 1 < len(pages) else None)

    return fetch


def v(model: str, version: str) -> ModelVersion:
    return ModelVersion("r", model, version)


async def joined(models: Sequence[list[Model]], versions: Sequence[list[ModelVersion]]) -> list[Any]:
    rereads: list[str] = []

    async def reread(name: str) -> list[ModelVersion]:
        rereads.append(name)
        return [v(name, "whole")]

    out: list[Any] = []
    async for pair in ListingJoin(paged(models), paged(versions), reread):
        out.append((pair[0].name, [x.version for x in pair[1]]) if pair is not None else None)
    return [*out, ("rereads", rereads)]


async def test_a_model_is_yielded_once_the_versions_listing_moves_past_it() -> None:
    models = [[Model("r", "a"), Model("r", "b")], [Model("r", "c"), Model("r", "lonely")]]
    versions = [[v("a", "1"), v("a", "2"), v("b", "1")], [v("c", "1"), v("gone", "1")]]
    out = await joined(models, versions)
    pairs = [p for p in out[:-1] if p is not None]
    assert sorted(pairs) == [("a", ["1", "2"]), ("b", ["1"]), ("c", ["1"]), ("lonely", [])]
    assert pairs[-1] == ("lonely", [])  # models without versions come at the end
    assert pairs.index(("a", ["1", "2"])) < pairs.index(("c", ["1"]))
    assert None in out  # page boundaries are marked
    assert out[-1] == ("rereads", [])  # versions of an unlisted model are dropped, not re-read


async def test_versions_that_come_after_their_model_was_yielded_are_read_again_whole() -> None:
    models = [[Model("r", "a"), Model("r", "b")]]
    versions = [[v("a", "1"), v("b", "1")], [v("a", "2")]]
    out = await joined(models, versions)
    pairs = [p for p in out[:-1] if p is not None]
    assert pairs[-1] == ("a", ["whole"])  # re-read at the very end; the index replaces the model
    assert out[-1] == ("rereads", ["a"])


def test_batches_grow_once_the_first_models_are_searchable() -> None:
    assert batch_size(1) == batch_size(FIRST_BATCH_SIZE) == FIRST_BATCH_SIZE
    assert batch_size(FIRST_BATCH_SIZE + 1) == batch_size(SMALL_BATCHES_UNTIL) == BATCH_SIZE
    assert batch_size(SMALL_BATCHES_UNTIL + 1) == FULL_SYNC_BATCH_SIZE


def test_fill_steps_hold_whole_models_of_about_a_number_of_versions() -> None:
    batch = [(Model("r", f"m{i}"), [v(f"m{i}", str(n)) for n in range(3)]) for i in range(5)]
    parts = by_versions(batch, 5)
    assert [[m.name for m, _ in part] for part in parts] == [["m0", "m1"], ["m2", "m3"], ["m4"]]

"""``adapters.toolkit.paging``: following page tokens to the end (and not forever),
and a listing answer's items and next token, or ``RegistryUnavailable`` when the
answer is off its documented shape (never an empty page: a sync would take that
for deleted models)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from adapters.toolkit.paging import iterate_page_items, iterate_pages, listing, listing_token, record
from gateway.errors import RegistryError, RegistryUnavailable


@dataclass
class FakePage:
    items: list[int]
    next_token: str | None


@dataclass
class Pages:
    """Pages by token; records the tokens asked for."""

    pages: dict[str | None, FakePage]
    asked: list[str | None] = field(default_factory=list)

    async def __call__(self, token: str | None) -> FakePage:
        self.asked.append(token)
        return self.pages[token]


async def test_tokens_are_followed_to_the_last_page() -> None:
    fetch = Pages({None: FakePage([1, 2], "b"), "b": FakePage([3], "c"), "c": FakePage([], "")})
    assert [item async for item in iterate_pages(fetch)] == [1, 2, 3]
    assert fetch.asked == [None, "b", "c"]  # an empty token ends the listing too
    pages = [items async for items in iterate_page_items(Pages({None: FakePage([7], None)}))]
    assert pages == [[7]]


async def test_a_repeated_token_ends_the_listing_with_an_error() -> None:
    fetch = Pages({None: FakePage([1], "a"), "a": FakePage([2], "b"), "b": FakePage([3], "a")})
    seen: list[int] = []
    with pytest.raises(RegistryError, match="paging token repeated: 'a'"):
        async for item in iterate_pages(fetch):
            seen.append(item)
    assert seen == [1, 2, 3]


def test_a_listing_answer_gives_its_items() -> None:
    body: dict[str, Any] = {"models": [{"name": "a"}, {"name": "b"}], "next_page_token": "t"}
    assert listing("r", body, "models", what="models") == [{"name": "a"}, {"name": "b"}]
    # Registries that omit empty fields: a missing or null key is an empty page.
    assert listing("r", {}, "models", what="models") == []
    assert listing("r", {"models": None}, "models", what="models") == []


@pytest.mark.parametrize(
    ("body", "always_sent", "found"),
    [
        ([], False, "a JSON list instead of an object"),
        ({}, True, "an object without 'models'"),
        ({"models": None}, True, "'models' as a JSON NoneType instead of a list"),
        ({"models": {"a": 1}}, False, "'models' as a JSON dict instead of a list"),
        ({"models": [{"a": 1}, "b"]}, False, "'models' holding something other than objects"),
    ],
)
def test_a_listing_off_its_shape_is_unavailable_not_empty(body: Any, always_sent: bool, found: str) -> None:
    with pytest.raises(RegistryUnavailable) as caught:
        listing("r", body, "models", what="the model listing", always_sent=always_sent)
    assert (
        caught.value.message
        == f"registry r: answered the model listing with {found}: not the documented shape"
    )
    assert caught.value.extensions["shape"] == "unexpected"


def test_a_record_answer_gives_its_object() -> None:
    assert record("r", {"model": {"name": "a"}}, "model", what="a model") == {"name": "a"}
    off_shape: list[Any] = [[], {}, {"model": "a"}]
    for body in off_shape:
        with pytest.raises(RegistryUnavailable):
            record("r", body, "model", what="a model")


def test_the_next_token_of_a_listing() -> None:
    assert listing_token("r", {"next": "abc"}, "next", what="models") == "abc"
    assert listing_token("r", {"next": ""}, "next", what="models") is None
    assert listing_token("r", {}, "next", what="models") is None
    with pytest.raises(RegistryUnavailable):
        listing_token("r", {"next": 5}, "next", what="models")

"""A search travels as one ``SearchQuery`` from the resolver to the index: it is
checked when built, and the index applies its ``as_of`` to models itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.catalogue.query import SearchFilter, SearchQuery
from gateway.domain import Model
from gateway.errors import BadInput
from gateway.runtime import Gateway
from tests.support import make_settings


@pytest.fixture
async def gw(database_url: str, tmp_path: Path) -> AsyncIterator[Gateway]:
    gateway = await Gateway.open(make_settings(database_url, tmp_path))
    try:
        yield gateway
    finally:
        await gateway.aclose()


def test_as_of_needs_a_time_zone() -> None:
    with pytest.raises(BadInput) as caught:
        SearchQuery(as_of=datetime(2026, 1, 1))
    assert caught.value.extensions["field"] == "asOf"


def test_a_query_is_its_own_cache_key_without_as_of() -> None:
    plain = SearchQuery("fraud", SearchFilter(teams=("risk",)), 10, facets=())
    then = SearchQuery(
        "fraud", SearchFilter(teams=("risk",)), 10, facets=frozenset(), as_of=datetime.now(UTC)
    )
    assert then.cache_key == plain and hash(then.cache_key) == hash(plain)


async def test_models_created_after_as_of_leave_the_page_with_their_cursors(gw: Gateway) -> None:
    old = Model("platform", "old", created_at=datetime(2026, 1, 1, tzinfo=UTC))
    new = Model("platform", "new", created_at=datetime(2026, 6, 1, tzinfo=UTC))
    await gw.index.replace_models([(old, []), (new, [])])
    everything = await gw.index.search_models(SearchQuery(facets=()))
    page = await gw.index.search_models(SearchQuery(facets=(), as_of=datetime(2026, 3, 1, tzinfo=UTC)))
    assert [m.name for m in page.items] == ["old"]
    assert page.cursors == [everything.cursors[[m.name for m in everything.items].index("old")]]
    assert page.total == everything.total == 2  # counts are today's

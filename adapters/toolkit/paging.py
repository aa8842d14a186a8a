"""Paged listings: opaque page tokens, following next tokens to the end, and the
items and next token of a listing answer of the registry's documented shape."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from adapters.toolkit.errors import off_shape
from gateway.errors import RegistryError
from gateway.tokens import decode_token, encode_token

__all__ = [
    "PageLike",
    "decode_token",
    "encode_token",
    "iterate_page_items",
    "iterate_pages",
    "listing",
    "listing_token",
    "record",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class PageLike(Protocol[T_co]):
    """What paging needs of a page (``adapters.base.Page`` is one)."""

    @property
    def items(self) -> Sequence[T_co]: ...

    @property
    def next_token(self) -> str | None: ...


async def iterate_pages(fetch: Callable[[str | None], Awaitable[PageLike[T]]]) -> AsyncIterator[T]:
    """Every item of a paged listing, following next tokens until the end."""
    async for items in iterate_page_items(fetch):
        for item in items:
            yield item


async def iterate_page_items(
    fetch: Callable[[str | None], Awaitable[PageLike[T]]],
) -> AsyncIterator[list[T]]:
    """Each page's items of a paged listing as it arrives (for consumers that work a
    page at a time, e.g. a sync that indexes while the next page is read)."""
    token: str | None = None
    seen_tokens: set[str] = set()
    while True:
        page = await fetch(token)
        yield page.items if isinstance(page.items, list) else list(page.items)
        if not page.next_token:
            return
        if page.next_token in seen_tokens:  # a registry that loops would hang a sync forever
            raise RegistryError("?", f"paging token repeated: {page.next_token!r}")
        seen_tokens.add(page.next_token)
        token = page.next_token


def listing(
    registry_id: str, body: Any, key: str, *, what: str, always_sent: bool = False
) -> list[dict[str, Any]]:
    """The items of a listing answer ``{"<key>": [{...}, ...], ...}``.

    Registries that omit empty fields (MLflow, Google APIs) leave ``key`` out when
    there is nothing to list, so a missing key is an empty page unless the registry
    documents it as ``always_sent``. Anything else off the documented shape (a body
    that is not an object, ``key`` not a list, an item not an object) is
    ``RegistryUnavailable``, never an empty page: a sync takes an empty page to mean
    the registry's models were deleted."""
    if not isinstance(body, dict):
        raise off_shape(registry_id, what, f"a JSON {type(body).__name__} instead of an object")
    if key not in body:
        if always_sent:
            raise off_shape(registry_id, what, f"an object without {key!r}")
        return []
    items = body[key]
    if items is None and not always_sent:
        return []
    if not isinstance(items, list):
        raise off_shape(registry_id, what, f"{key!r} as a JSON {type(items).__name__} instead of a list")
    if not all(isinstance(item, dict) for item in items):
        raise off_shape(registry_id, what, f"{key!r} holding something other than objects")
    return items


def record(registry_id: str, body: Any, key: str, *, what: str) -> dict[str, Any]:
    """The one object a get answer ``{"<key>": {...}}`` always carries."""
    if not isinstance(body, dict):
        raise off_shape(registry_id, what, f"a JSON {type(body).__name__} instead of an object")
    found = body.get(key)
    if not isinstance(found, dict):
        raise off_shape(registry_id, what, f"no {key!r} object")
    return found


def listing_token(registry_id: str, body: Mapping[str, Any], key: str, *, what: str) -> str | None:
    """The next page's token of a listing answer (absent or empty: the last page)."""
    token = body.get(key)
    if token is None or token == "":
        return None
    if not isinstance(token, str):
        raise off_shape(registry_id, what, f"{key!r} as a JSON {type(token).__name__} instead of a string")
    return token

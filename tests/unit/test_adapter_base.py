"""Shared adapter helpers: time normalisation, paging, retries, the JSON client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
import respx

from adapters.base import (
    JsonHttpClient,
    RetryPolicy,
    decode_token,
    encode_token,
    iterate_pages,
    retry_read,
    to_utc,
)
from adapters.protocol import Page
from gateway.errors import RegistryError, RegistryRejected, RegistryUnavailable

FAST = RetryPolicy(attempts=4, deadline_seconds=5, initial_wait=0.001, max_wait=0.01)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_700_000_000_000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("1700000000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("2026-03-01T12:00:00Z", datetime(2026, 3, 1, 12, tzinfo=UTC)),
        ("2026-03-01T12:00:00.123456789Z", datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2026-03-01T14:00:00+02:00", datetime(2026, 3, 1, 12, tzinfo=UTC)),
        (datetime(2026, 3, 1, 12), datetime(2026, 3, 1, 12, tzinfo=UTC)),
        (datetime(2026, 3, 1, 13, tzinfo=timezone(timedelta(hours=1))), datetime(2026, 3, 1, 12, tzinfo=UTC)),
        (None, None),
        ("", None),
    ],
)
def test_to_utc(value: object, expected: datetime | None) -> None:
    result = to_utc(value)  # type: ignore[arg-type]
    assert result == expected
    if result is not None:
        assert result.tzinfo is UTC


def test_tokens_round_trip_and_reject_garbage() -> None:
    assert decode_token(encode_token({"after": "m1", "n": 3})) == {"after": "m1", "n": 3}
    with pytest.raises(ValueError, match="invalid page token"):
        decode_token("not-base64-json")


async def test_iterate_pages_follows_tokens_and_detects_loops() -> None:
    pages = {None: Page([1, 2], "a"), "a": Page([3], "b"), "b": Page([4], None)}

    async def fetch(token: str | None) -> Page[int]:
        return pages[token]

    assert [x async for x in iterate_pages(fetch)] == [1, 2, 3, 4]

    async def looping(token: str | None) -> Page[int]:
        return Page([1], "same")

    with pytest.raises(RegistryError, match="paging token repeated"):
        _ = [x async for x in iterate_pages(looping)]


async def test_retry_read_retries_transient_failures_only() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise RegistryUnavailable("r", "503")
        return "ok"

    assert await retry_read(flaky, FAST) == "ok"
    assert calls == 3

    calls = 0

    async def refused() -> str:
        nonlocal calls
        calls += 1
        raise RegistryRejected("r", "bad request")

    with pytest.raises(RegistryRejected):
        await retry_read(refused, FAST)
    assert calls == 1


async def test_retry_read_gives_up_after_the_attempts() -> None:
    calls = 0

    async def down() -> str:
        nonlocal calls
        calls += 1
        raise RegistryUnavailable("r", "down")

    with pytest.raises(RegistryUnavailable):
        await retry_read(down, FAST)
    assert calls == FAST.attempts


def _translate(response: httpx.Response) -> RegistryError:
    if response.status_code >= 500:
        return RegistryUnavailable("r", f"HTTP {response.status_code}", status=response.status_code)
    return RegistryRejected("r", response.json().get("message", ""), status=response.status_code)


@respx.mock
async def test_json_client_retries_get_but_never_a_write() -> None:
    get_route = respx.get("http://reg/items").mock(
        side_effect=[httpx.Response(503), httpx.ConnectError("refused"), httpx.Response(200, json={"ok": 1})]
    )
    post_route = respx.post("http://reg/items").mock(return_value=httpx.Response(503))
    client = JsonHttpClient("r", "http://reg", _translate, retry=FAST)
    try:
        assert await client.get("/items") == {"ok": 1}
        assert get_route.call_count == 3
        with pytest.raises(RegistryUnavailable):
            await client.send("POST", "/items", json_body={"a": 1})
        assert post_route.call_count == 1
    finally:
        await client.aclose()


@respx.mock
async def test_json_client_reports_bad_bodies_and_errors() -> None:
    respx.get("http://reg/html").mock(return_value=httpx.Response(200, text="<html>proxy error</html>"))
    respx.get("http://reg/bad").mock(return_value=httpx.Response(400, json={"message": "no such field"}))
    respx.get("http://reg/empty").mock(return_value=httpx.Response(200))
    client = JsonHttpClient("r", "http://reg", _translate, retry=RetryPolicy(attempts=1))
    try:
        with pytest.raises(RegistryUnavailable, match="not JSON"):
            await client.get("/html")
        with pytest.raises(RegistryRejected, match="no such field") as caught:
            await client.get("/bad")
        assert caught.value.as_extensions()["registry"] == "r"
        assert await client.get("/empty") == {}
    finally:
        await client.aclose()


@respx.mock
async def test_json_client_timeout_is_unavailable() -> None:
    respx.get("http://reg/slow").mock(side_effect=httpx.ReadTimeout("slow"))
    client = JsonHttpClient("r", "http://reg", _translate, retry=RetryPolicy(attempts=2, initial_wait=0.001))
    try:
        with pytest.raises(RegistryUnavailable, match="timed out"):
            await client.get("/slow")
    finally:
        await client.aclose()

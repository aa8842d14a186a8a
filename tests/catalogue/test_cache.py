"""The async cache: freshness, stale-while-revalidate, coalescing, stale-if-error,
in-process and shared through a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from gateway.catalogue.cache import AsyncCache, MemoryBackend, RedisBackend
from tests.conftest import REDIS_URL, service_missing
from tests.support import ManualClock


class Source:
    def __init__(self) -> None:
        self.calls = 0
        self.value = "v1"
        self.fail = False
        self.delay = 0.0

    async def load(self) -> str:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("registry down")
        return self.value


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[MemoryBackend | RedisBackend]:
    if request.param == "memory":
        yield MemoryBackend(100, expire_seconds=60)
        return
    redis_backend = RedisBackend(REDIS_URL, prefix=f"test:{uuid.uuid4().hex}:")
    try:
        await redis_backend._redis.ping()
    except Exception as exc:
        await redis_backend.aclose()
        service_missing("Redis", exc)
    yield redis_backend
    await redis_backend.aclose()


async def test_fresh_values_are_served_without_loading(backend: MemoryBackend) -> None:
    cache, source = AsyncCache(backend, ttl=60), Source()
    assert (await cache.get("k", source.load)).value == "v1"
    source.value = "v2"
    hit = await cache.get("k", source.load)
    assert (hit.value, hit.stale, source.calls) == ("v1", False, 1)


async def test_concurrent_misses_share_one_load(backend: MemoryBackend) -> None:
    cache, source = AsyncCache(backend, ttl=60), Source()
    source.delay = 0.05
    results = await asyncio.gather(*(cache.get("k", source.load) for _ in range(20)))
    assert {r.value for r in results} == {"v1"}
    assert source.calls == 1


async def test_stale_while_revalidate_refreshes_once_in_background(backend: MemoryBackend) -> None:
    clock = ManualClock()
    cache, source = AsyncCache(backend, ttl=0.4, stale_ttl=30, clock=clock), Source()
    await cache.get("k", source.load)
    clock.advance(0.45)
    source.value, source.delay = "v2", 0.05
    stale = await asyncio.gather(*(cache.get("k", source.load) for _ in range(10)))
    assert {(r.value, r.stale) for r in stale} == {("v1", True)}  # answered at once
    await cache.refreshed()
    assert source.calls == 2  # one refresh, not ten
    fresh = await cache.get("k", source.load)
    assert (fresh.value, fresh.stale) == ("v2", False)


async def test_stale_if_error(backend: MemoryBackend) -> None:
    clock = ManualClock()
    cache, source = AsyncCache(backend, ttl=0.01, stale_ttl=0.02, clock=clock), Source()
    await cache.get("k", source.load)
    clock.advance(0.05)  # past stale_ttl: a real load is needed
    source.fail = True
    result = await cache.get("k", source.load)
    assert (result.value, result.stale) == ("v1", True)
    assert cache.stats.errors_served_stale == 1


async def test_error_without_a_previous_value_is_raised(backend: MemoryBackend) -> None:
    cache, source = AsyncCache(backend, ttl=60), Source()
    source.fail = True
    with pytest.raises(RuntimeError, match="registry down"):
        await cache.get("k", source.load)
    source.fail = False
    assert (await cache.get("k", source.load)).value == "v1"  # failures are not cached


async def test_get_many_loads_all_misses_in_one_call(backend: MemoryBackend) -> None:
    cache = AsyncCache(backend, ttl=60)
    batches: list[list[str]] = []

    async def load_many(keys: list[str]) -> dict[str, str]:
        batches.append(sorted(keys))
        return {k: k.upper() for k in keys if k != "absent"}

    await cache.get("a", lambda: asyncio.sleep(0, "A"))
    got = await cache.get_many(["a", "b", "c", "absent"], load_many)
    assert {k: v.value for k, v in got.items()} == {"a": "A", "b": "B", "c": "C", "absent": None}
    assert batches == [["absent", "b", "c"]]


async def test_redis_entries_are_shared_between_replicas() -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    first, second = RedisBackend(REDIS_URL, prefix), RedisBackend(REDIS_URL, prefix)
    try:
        try:
            await first._redis.ping()
        except Exception as exc:
            service_missing("Redis", exc)
        source = Source()
        await AsyncCache(first, ttl=60).get("k", source.load)
        other = await AsyncCache(second, ttl=60).get("k", source.load)
        assert (other.value, source.calls) == ("v1", 1)
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_dead_redis_degrades_to_misses() -> None:
    cache, source = AsyncCache(RedisBackend("redis://127.0.0.1:1/0"), ttl=60), Source()
    try:
        assert (await cache.get("k", source.load)).value == "v1"
        assert (await cache.get("k", source.load)).value == "v1"
        assert source.calls == 2
    finally:
        await cache.aclose()

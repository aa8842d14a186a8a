"""Live detail reads: batched per registry, cached, bounded by a deadline."""

from __future__ import annotations

from gateway.catalogue.cache import AsyncCache, MemoryBackend
from gateway.catalogue.live import LiveReader
from tests.fakes.memory_registry import BatchingRegistry, MemoryRegistry
from tests.support import ManualClock


def reader(*registries: MemoryRegistry, deadline: float = 2.0) -> LiveReader:
    cache = AsyncCache(MemoryBackend(1000, 600), ttl=30)
    return LiveReader({r.registry_id: r for r in registries}, cache, deadline_seconds=deadline)


async def test_a_page_costs_one_batched_call_per_registry() -> None:
    a, b = BatchingRegistry("a"), BatchingRegistry("b")
    for i in range(25):
        a.put(f"m{i}")
        b.put(f"m{i}")
    live = reader(a, b)
    uris = [f"mg://{r}/m{i}/1" for r in ("a", "b") for i in range(25)]
    result = await live.versions(uris)
    assert all(result[u].version is not None and result[u].error is None for u in uris)
    assert (a.calls["get_versions"], b.calls["get_versions"]) == (1, 1)
    assert a.calls["get_version"] == 0
    await live.versions(uris)  # cached now
    assert (a.calls["get_versions"], b.calls["get_versions"]) == (1, 1)


async def test_registries_without_batching_are_read_concurrently() -> None:
    reg = MemoryRegistry("m")
    for i in range(10):
        reg.put(f"x{i}")
    result = await reader(reg).versions([f"mg://m/x{i}/1" for i in range(10)] + ["mg://m/nope/1"])
    assert reg.calls["get_version"] == 11
    assert result["mg://m/nope/1"].version is None and result["mg://m/nope/1"].error is None


async def test_a_down_registry_gives_a_coded_error_not_an_exception() -> None:
    reg = MemoryRegistry("down")
    reg.failing = True
    result = (await reader(reg).versions(["mg://down/x/1"]))["mg://down/x/1"]
    assert result.version is None
    assert result.error is not None and result.error.code == "REGISTRY_UNAVAILABLE"
    assert result.error.as_extensions()["registry"] == "down"


async def test_a_hanging_registry_costs_at_most_the_deadline() -> None:
    reg = MemoryRegistry("slow")
    reg.put("x")
    reg.hang_seconds = 30
    result = (await reader(reg, deadline=0.3).versions(["mg://slow/x/1"]))["mg://slow/x/1"]
    # The registry's call was abandoned at the deadline (it would answer after 30 s).
    assert reg.calls["get_version"] == 1 and reg.calls["cancelled"] == 1
    assert result.version is None
    assert result.error is not None and "no answer within 0.3s" in result.error.message


async def test_a_failing_registry_serves_the_last_value_stale() -> None:
    reg = BatchingRegistry("flaky")
    reg.put("x")
    clock = ManualClock()
    cache = AsyncCache(MemoryBackend(10, 600), ttl=0.01, stale_ttl=0.01, clock=clock)
    live = LiveReader({"flaky": reg}, cache, deadline_seconds=1)
    assert (await live.versions(["mg://flaky/x/1"]))["mg://flaky/x/1"].version is not None
    clock.advance(0.03)
    reg.failing = True
    result = (await live.versions(["mg://flaky/x/1"]))["mg://flaky/x/1"]
    assert result.version is not None and result.stale and result.error is None

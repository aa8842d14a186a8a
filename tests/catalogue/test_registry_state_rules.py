"""How a registry's state follows its sync record and its calls (gateway.catalogue.state),
with in-memory registries behind the real guarded adapters and breakers."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from adapters.base import load_factories
from gateway.catalogue.index import RegistryHealth
from gateway.catalogue.state import RegistryState, registry_state
from gateway.config import RegistrySettings
from gateway.domain import utcnow
from gateway.errors import RegistryUnavailable
from gateway.resilience import CircuitBreaker
from gateway.runtime import Gateway
from tests.fakes.memory_registry import MemoryFactory, PerModelRegistry
from tests.support import make_settings


@pytest.fixture
async def gateway(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Gateway, MemoryFactory]]:
    factory = MemoryFactory(lambda r: PerModelRegistry(r.id))
    settings = dataclasses.replace(
        make_settings(database_url, tmp_path),
        registries=(RegistrySettings(id="alpha", kind="memory", team="a", breaker_failures=50),),
    )
    gw = await Gateway.open(settings, factories={**load_factories(), "memory": factory})
    yield gw, factory
    await gw.aclose()


async def state_of(gw: Gateway) -> tuple[RegistryState, str | None]:
    report = registry_state("alpha", (await gw.index.registry_health()).get("alpha"), gw.adapters["alpha"])
    return report.state, report.reason


async def test_from_first_sync_to_failure_recovery_and_back(gateway: tuple[Gateway, MemoryFactory]) -> None:
    gw, factory = gateway
    reg = factory.made["alpha"]
    reg.put("m0", versions=1)
    reg.put("m1", versions=1)
    assert (await state_of(gw))[0] is RegistryState.SYNCING

    assert (await gw.sync.sync_registry("alpha", full=True)).error is None
    assert await state_of(gw) == (RegistryState.HEALTHY, None)

    reg.failing = True  # dies
    assert (await gw.sync.sync_registry("alpha")).error
    state, reason = await state_of(gw)
    assert state is RegistryState.UNAVAILABLE and "connection refused" in (reason or "")

    reg.failing = False  # back: a live read is answered before the next sync pass
    assert await gw.adapters["alpha"].get_model("m0") is not None
    state, reason = await state_of(gw)
    assert state is RegistryState.DEGRADED and "last sync failed" in (reason or "")

    assert (await gw.sync.sync_registry("alpha")).error is None
    assert (await state_of(gw))[0] is RegistryState.HEALTHY

    reg.refused_models = {"m1"}  # a pass that completes without one model
    result = await gw.sync.sync_registry("alpha", full=True)
    assert result.error is None and result.partial
    state, reason = await state_of(gw)
    assert state is RegistryState.DEGRADED and "m1" in (reason or "")


async def test_a_first_sync_that_fails_is_unavailable_not_syncing(
    gateway: tuple[Gateway, MemoryFactory],
) -> None:
    gw, factory = gateway
    factory.made["alpha"].failing = True
    assert (await gw.sync.sync_registry("alpha", full=True)).error
    report = registry_state("alpha", (await gw.index.registry_health())["alpha"], gw.adapters["alpha"])
    assert report.state is RegistryState.UNAVAILABLE and report.reported
    assert "never completed a sync" in report.error().message


def test_an_open_circuit_is_unavailable_and_a_half_open_one_stays_so_until_answered() -> None:
    now = [0.0]
    breaker = CircuitBreaker("alpha", failure_threshold=1, reset_seconds=10, clock=lambda: now[0])
    adapter = SimpleNamespace(breaker=breaker)
    synced = RegistryHealth(healthy=True, synced_at=utcnow(), last_error=None)
    assert registry_state("alpha", synced, adapter).state is RegistryState.HEALTHY

    breaker.failed(False, RegistryUnavailable("alpha", "timed out (ReadTimeout)"))
    report = registry_state("alpha", synced, adapter)
    assert report.state is RegistryState.UNAVAILABLE and report.reason == "timed out (ReadTimeout)"
    now[0] = 11.0  # half-open: the next call is the trial
    assert registry_state("alpha", synced, adapter).state is RegistryState.UNAVAILABLE
    breaker.succeeded(breaker.acquire())
    assert registry_state("alpha", synced, adapter).state is RegistryState.HEALTHY

"""The circuit breaker and the guarded adapter, unit by unit."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, Protocol

import pytest

import adapters.protocol
from adapters.protocol import BatchVersionReader, BulkVersionLister, VersionRegistrar, WebhookReceiver
from gateway.errors import NotFound, RegistryRejected, RegistryUnavailable
from gateway.resilience import GUARDED_CALLS, BreakerState, CircuitBreaker, GuardedAdapter
from tests.fakes.memory_registry import BatchingRegistry, MemoryRegistry, PerModelRegistry
from tests.support import ManualClock as Clock


def breaker(clock: Clock, threshold: int = 3, reset: float = 30.0) -> CircuitBreaker:
    return CircuitBreaker("r", failure_threshold=threshold, reset_seconds=reset, clock=clock)


async def fail() -> None:
    raise RegistryUnavailable("r", "connection refused")


async def ok() -> str:
    return "ok"


async def test_opens_after_consecutive_failures_and_fails_fast() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(2):
        with pytest.raises(RegistryUnavailable):
            await b.call(fail)
    assert await b.call(ok) == "ok"  # a success in between starts the count again
    for _ in range(3):
        with pytest.raises(RegistryUnavailable):
            await b.call(fail)
    assert b.state is BreakerState.OPEN and b.times_opened == 1
    calls = 0

    async def counted() -> str:
        nonlocal calls
        calls += 1
        return "ok"

    with pytest.raises(RegistryUnavailable, match="circuit open") as raised:
        await b.call(counted)
    assert calls == 0 and b.rejected == 1  # a dead registry costs nothing while open
    assert raised.value.code == "REGISTRY_UNAVAILABLE" and raised.value.extensions["breaker"] == "open"


@pytest.mark.parametrize(
    "error", [NotFound("no such model"), RegistryRejected("r", "400 bad request"), KeyError("adapter bug")]
)
async def test_answers_that_are_errors_do_not_count(error: Exception) -> None:
    b = breaker(Clock(), threshold=1)

    async def answer() -> None:
        raise error

    for _ in range(3):
        with pytest.raises(type(error)):
            await b.call(answer)
    assert b.state is BreakerState.CLOSED


async def test_half_open_lets_one_trial_through() -> None:
    clock = Clock()
    b = breaker(clock, threshold=1, reset=30)
    with pytest.raises(RegistryUnavailable):
        await b.call(fail)
    clock.now += 29
    assert b.state is BreakerState.OPEN
    clock.now += 1
    assert b.state is BreakerState.HALF_OPEN
    release = asyncio.Event()

    async def slow_ok() -> str:
        await release.wait()
        return "ok"

    trial = asyncio.create_task(b.call(slow_ok))
    await asyncio.sleep(0)
    with pytest.raises(RegistryUnavailable, match="circuit open"):  # one trial at a time
        await b.call(ok)
    release.set()
    assert await trial == "ok"
    assert b.state is BreakerState.CLOSED and b.snapshot()["consecutiveFailures"] == 0


async def test_a_failed_trial_opens_again_and_a_cancelled_one_frees_the_slot() -> None:
    clock = Clock()
    b = breaker(clock, threshold=1, reset=10)
    with pytest.raises(RegistryUnavailable):
        await b.call(fail)
    clock.now += 10
    with pytest.raises(RegistryUnavailable, match="connection refused"):
        await b.call(fail)  # the trial
    assert b.state is BreakerState.OPEN and b.snapshot()["retryInSeconds"] == 10
    clock.now += 10
    hang = asyncio.create_task(b.call(lambda: asyncio.sleep(60)))
    await asyncio.sleep(0)
    hang.cancel()
    with pytest.raises(asyncio.CancelledError):
        await hang
    assert await b.call(ok) == "ok"  # the cancelled trial did not hold the slot
    assert b.state is BreakerState.CLOSED


async def test_guarded_calls_time_out() -> None:
    inner = MemoryRegistry("slow")
    inner.put("m")
    inner.hang_seconds = 5
    guarded = GuardedAdapter(inner, CircuitBreaker("slow", failure_threshold=2), timeout_seconds=0.05)
    for _ in range(2):
        with pytest.raises(RegistryUnavailable, match=r"did not answer within 0\.05s"):
            await guarded.get_model("m")
    assert guarded.breaker.state is BreakerState.OPEN
    health = await guarded.health()
    assert not health.ok and "circuit open" in (health.detail or "")


# Coroutine methods that reach no registry, passed through on purpose (resilience.UNGUARDED).
LOCAL_CALLS = {"aclose", "handle_webhook"}


def protocol_methods() -> dict[str, inspect.Signature]:
    """Every coroutine method of every protocol an adapter may implement, by name:
    each ``Protocol`` class ``adapters.protocol`` exports."""
    protocols = [
        cls
        for name in adapters.protocol.__all__
        if isinstance(cls := getattr(adapters.protocol, name), type)
        and Protocol in cls.__mro__
        and cls is not Protocol
    ]
    methods: dict[str, inspect.Signature] = {}
    for protocol in protocols:
        for name, member in vars(protocol).items():
            if inspect.iscoroutinefunction(member) and name not in LOCAL_CALLS:
                methods[name] = inspect.signature(member)
    return methods


class HangingAdapter:
    """An adapter of every protocol whose every call waits forever."""

    registry_id = "stuck"
    kind = "stuck"
    fills_details = True

    def __getattr__(self, name: str) -> Any:
        if name not in protocol_methods():
            raise AttributeError(name)

        async def hang(*args: Any, **kwargs: Any) -> Any:
            await asyncio.Event().wait()

        return hang


def test_every_protocol_method_is_enumerated() -> None:
    # The enumeration below must see the calls the guard once missed.
    assert {"set_stage", "list_all_versions_brief", "fill_details", "get_versions", "set_traffic"} <= set(
        protocol_methods()
    )


def test_the_guard_covers_exactly_the_protocol_calls() -> None:
    # Derived from adapters.protocol, not listed by hand: nothing missed, nothing extra.
    assert set(protocol_methods()) == GUARDED_CALLS


@pytest.mark.parametrize("method", sorted(protocol_methods()))
async def test_every_protocol_method_meets_the_deadline(method: str) -> None:
    guarded = GuardedAdapter(
        HangingAdapter(),  # type: ignore[arg-type]
        CircuitBreaker("stuck", failure_threshold=100),
        timeout_seconds=0.05,
    )
    signature = protocol_methods()[method]
    params = [p for p in signature.parameters.values() if p.name != "self"]
    args = [None for p in params if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty]
    kwargs = {p.name: None for p in params if p.kind is p.KEYWORD_ONLY and p.default is p.empty}
    call = getattr(guarded, method)(*args, **kwargs)
    try:
        # The outer bound only stops a call that escaped the guard from hanging the run.
        result = await asyncio.wait_for(call, timeout=5)
    except RegistryUnavailable as exc:
        assert "did not answer within 0.05s" in exc.message and method in exc.message
    except TimeoutError:
        pytest.fail(f"{method} escaped the guard: no deadline")
    else:
        # ``health`` reports the failure instead of raising it.
        assert method == "health" and not result.ok and "did not answer within 0.05s" in result.detail


@pytest.mark.parametrize(
    ("inner", "capability", "expected"),
    [
        (MemoryRegistry("m"), BulkVersionLister, True),
        (PerModelRegistry("m"), BulkVersionLister, False),
        (BatchingRegistry("m"), BatchVersionReader, True),
        (MemoryRegistry("m"), BatchVersionReader, False),
        (MemoryRegistry("m"), VersionRegistrar, False),
        (MemoryRegistry("m"), WebhookReceiver, False),
    ],
)
def test_optional_capabilities_pass_through_unchanged(inner: Any, capability: Any, expected: bool) -> None:
    guarded = GuardedAdapter(inner, CircuitBreaker("m"), 1.0)
    assert isinstance(inner, capability) is expected
    assert isinstance(guarded, capability) is expected


async def test_optional_capabilities_are_guarded_too() -> None:
    inner = BatchingRegistry("b")
    inner.put("m", versions=2)
    guarded = GuardedAdapter(inner, CircuitBreaker("b", failure_threshold=1), 1.0)
    assert set(await guarded.get_versions([("m", "1")])) == {("m", "1")}
    inner.failing = True
    with pytest.raises(RegistryUnavailable):
        await guarded.list_all_versions()
    with pytest.raises(RegistryUnavailable, match="circuit open"):
        await guarded.get_versions([("m", "1")])
    assert inner.calls["get_versions"] == 1


async def test_native_registrar_keeps_its_transaction_hook(tmp_path: Any) -> None:
    from adapters.native import NativeRegistry
    from gateway.config import RegistrySettings
    from gateway.resilience import guard
    from gateway.store.database import Database

    db = Database(f"sqlite:///{tmp_path}/n.db")
    await db.migrate()
    try:
        guarded = guard(NativeRegistry("platform", db), RegistrySettings(id="platform", kind="native"))
        assert isinstance(guarded, VersionRegistrar)
        from adapters.protocol import RegistrationRequest
        from gateway.domain import ModelVersion

        seen = []

        async def hook(conn: Any, version: Any) -> None:
            seen.append(version.uri)

        request = RegistrationRequest("m", ModelVersion("platform", "m", "0", artifact_uri="s3://a"), "me")
        version = await guarded.register_version(request, within=hook)
        assert seen == [version.uri] == ["mg://platform/m/1"]
    finally:
        await db.aclose()

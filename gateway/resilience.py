"""A timeout and a circuit breaker around every call into a registry.

``Gateway.open`` wraps each adapter in a ``GuardedAdapter``:

- every call has a deadline (``call_timeout_seconds`` of the registry's
  config); running past it is ``RegistryUnavailable``;
- a ``CircuitBreaker`` per registry counts consecutive unavailability failures
  (unreachable, timing out, 5xx, malformed answers: ``RegistryUnavailable``).
  After ``breaker_failures`` of them it opens, and for ``breaker_reset_seconds``
  every call fails at once with ``RegistryUnavailable("circuit open ...")``, so
  a dead registry costs nothing while it is down. Then one trial call is let
  through (half-open): success closes the circuit, failure opens it again.
  Anything else the registry answers (404, a 4xx rejection, a permission error)
  proves it is up and counts as success.

Retries are not done here: ``adapters.base.retry_read`` (tenacity, jittered
exponential backoff) already retries idempotent reads inside the adapters, and
retrying again out here would multiply the load on a struggling registry.
Writes (``set_stage``, ``register_version``) are never retried anywhere.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from adapters.base import endpoint_of
from adapters.protocol import ChangeSet, Health, Page, PromotionContext, RegistryAdapter, capability_protocols
from gateway.config import RegistrySettings
from gateway.domain import LineageEdge, Model, ModelVersion, Stage
from gateway.errors import RegistryAuthError, RegistryUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

# Calls that reach no registry: ``aclose`` releases the adapter's own clients and
# ``handle_webhook`` verifies a delivery's signature locally (the refresh it asks for
# goes through the guard).
UNGUARDED = frozenset({"aclose", "handle_webhook"})


def protocol_calls(protocols: Iterable[type]) -> frozenset[str]:
    """The coroutine methods the protocols declare, less ``UNGUARDED``: every one may
    wait on a registry, so every one gets the deadline and the breaker."""
    return frozenset(
        name
        for protocol in protocols
        for name, member in vars(protocol).items()
        if inspect.iscoroutinefunction(member) and name not in UNGUARDED
    )


# Optional capabilities are reached through ``__getattr__``: exposed only when the
# wrapped adapter has them, so ``isinstance`` checks on runtime protocols give the
# same answer as for the adapter itself.
# The protocols are read off ``adapters.protocol`` (``capability_protocols``): a
# capability added there is guarded without anyone listing it here.
GUARDED_CALLS = protocol_calls(capability_protocols())


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Closed → open after ``failure_threshold`` consecutive failures → half-open
    after ``reset_seconds`` (one trial call at a time) → closed on success."""

    def __init__(
        self,
        registry_id: str,
        *,
        failure_threshold: int = 5,
        reset_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.registry_id = registry_id
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False
        self.times_opened = 0
        self.rejected = 0  # calls refused while open
        # What the last call with an outcome said, for the registry's state: the
        # failure that counts (None once a call is answered), and whether any
        # call has been answered at all in this process.
        self.last_failure: str | None = None
        self.answered = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.reset_seconds:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def snapshot(self) -> dict[str, Any]:
        """State for /readyz and metrics."""
        state = self.state
        retry_in = (
            max(0.0, self.reset_seconds - (self._clock() - self._opened_at))
            if state is BreakerState.OPEN and self._opened_at is not None
            else None
        )
        return {
            "state": state.value,
            "consecutiveFailures": self._failures,
            "timesOpened": self.times_opened,
            "retryInSeconds": round(retry_in, 1) if retry_in is not None else None,
        }

    def acquire(self) -> bool:
        """Admit a call, or raise ``RegistryUnavailable`` at once. True when the call
        is the half-open trial (its outcome decides the state)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return False
        if state is BreakerState.HALF_OPEN and not self._trial_running:
            self._trial_running = True
            return True
        self.rejected += 1
        retry_in = self.reset_seconds - (self._clock() - (self._opened_at or 0.0))
        raise RegistryUnavailable(
            self.registry_id,
            f"circuit open after {self._failures} consecutive failures; next try in {max(retry_in, 0):.0f}s",
            breaker="open",
        )

    def succeeded(self, trial: bool) -> None:
        if trial:
            self._trial_running = False
        if self._opened_at is not None:
            log.info("registry %s answers again: circuit closed", self.registry_id)
        self._failures = 0
        self._opened_at = None
        self.last_failure = None
        self.answered = True

    def failed(self, trial: bool, error: Exception) -> None:
        if trial:
            self._trial_running = False
        self._failures += 1
        self.last_failure = getattr(error, "message", None) or str(error) or type(error).__name__
        if trial or (self._opened_at is None and self._failures >= self.failure_threshold):
            if self._opened_at is None:
                self.times_opened += 1
                log.warning(
                    "registry %s: circuit open after %d consecutive failures (%s); calls fail fast for %.0fs",
                    self.registry_id,
                    self._failures,
                    error,
                    self.reset_seconds,
                )
            self._opened_at = self._clock()

    def released(self, trial: bool) -> None:
        """The call ended without an outcome (cancelled): let another trial run."""
        if trial:
            self._trial_running = False

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn`` through the breaker."""
        trial = self.acquire()
        try:
            result = await fn()
        except RegistryUnavailable as exc:
            self.failed(trial, exc)
            raise
        except RegistryAuthError as exc:
            # It answered, so the circuit stays closed; but with credentials it
            # refuses nothing works: the registry's state is UNAVAILABLE, saying why.
            self.succeeded(trial)
            self.last_failure = exc.message
            raise
        except Exception:
            self.succeeded(trial)  # the registry answered, with an error of ours or its own
            raise
        except BaseException:  # cancelled: says nothing about the registry
            self.released(trial)
            raise
        self.succeeded(trial)
        return result


class GuardedAdapter:
    """A ``RegistryAdapter`` that puts a deadline and a breaker around another."""

    def __init__(self, inner: RegistryAdapter, breaker: CircuitBreaker, timeout_seconds: float):
        self.inner = inner
        self.breaker = breaker
        self.timeout_seconds = timeout_seconds
        self.registry_id: str = inner.registry_id
        self.kind: str = inner.kind
        # Told of every call: (registry, operation, seconds, error code or None). Metrics use it.
        self.observe: Callable[[str, str, float, str | None], None] | None = None

    async def _guard(self, operation: str, fn: Callable[[], Awaitable[T]]) -> T:
        async def bounded() -> T:
            try:
                async with asyncio.timeout(self.timeout_seconds):
                    return await fn()
            except TimeoutError:
                where: dict[str, Any] = {"url": url} if (url := endpoint_of(self.inner)) else {}
                raise RegistryUnavailable(
                    self.registry_id, f"{operation} did not answer within {self.timeout_seconds:g}s", **where
                ) from None

        started = time.perf_counter()
        error: str | None = None
        try:
            return await self.breaker.call(bounded)
        except Exception as exc:
            error = getattr(exc, "code", None) or type(exc).__name__
            raise
        finally:
            if self.observe is not None:
                self.observe(self.registry_id, operation, time.perf_counter() - started, error)

    # --- the protocol ---------------------------------------------------------------

    async def list_models(self, page_token: str | None = None) -> Page[Model]:
        return await self._guard("list_models", lambda: self.inner.list_models(page_token))

    async def list_versions(self, model_name: str, page_token: str | None = None) -> Page[ModelVersion]:
        return await self._guard("list_versions", lambda: self.inner.list_versions(model_name, page_token))

    async def get_model(self, name: str) -> Model | None:
        return await self._guard("get_model", lambda: self.inner.get_model(name))

    async def get_version(self, name: str, version: str) -> ModelVersion | None:
        return await self._guard("get_version", lambda: self.inner.get_version(name, version))

    async def changes_since(self, cursor: str | None) -> ChangeSet:
        return await self._guard("changes_since", lambda: self.inner.changes_since(cursor))

    async def lineage(self, version: ModelVersion) -> list[LineageEdge]:
        return await self._guard("lineage", lambda: self.inner.lineage(version))

    async def set_stage(self, version: ModelVersion, stage: Stage, context: PromotionContext) -> ModelVersion:
        # The context's transaction hooks pass through: they run in the registry's transaction.
        return await self._guard("set_stage", lambda: self.inner.set_stage(version, stage, context))

    async def health(self) -> Health:
        if self.breaker.state is BreakerState.OPEN:
            return Health(False, "circuit open: the registry failed repeatedly")
        try:
            return await self._guard("health", self.inner.health)
        except RegistryUnavailable as exc:
            return Health(False, exc.message)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __getattr__(self, name: str) -> Any:
        # Only reached for names not defined above: optional capabilities (guarded
        # when a protocol declares them as calls) and adapter-specific attributes.
        attr = getattr(self.inner, name)
        if name in GUARDED_CALLS and attr is not None:

            @functools.wraps(attr)
            async def guarded(*args: Any, **kwargs: Any) -> Any:
                return await self._guard(name, lambda: attr(*args, **kwargs))

            return guarded
        return attr

    def __repr__(self) -> str:
        return f"GuardedAdapter({self.inner!r}, breaker={self.breaker.state.value})"


def guard(adapter: RegistryAdapter, settings: RegistrySettings) -> GuardedAdapter:
    """Wrap ``adapter`` with the timeout and breaker its registry's config asks for."""
    breaker = CircuitBreaker(
        settings.id,
        failure_threshold=settings.breaker_failures,
        reset_seconds=settings.breaker_reset_seconds,
    )
    return GuardedAdapter(adapter, breaker, settings.call_timeout_seconds)


def breaker_states(adapters: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The breaker of every guarded adapter, by registry id."""
    return {rid: a.breaker.snapshot() for rid, a in adapters.items() if isinstance(a, GuardedAdapter)}

"""Retries of idempotent reads: jittered exponential backoff inside a deadline,
stretched to the wait a throttled registry asked for. Writes are never retried."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from gateway.errors import RegistryError

__all__ = ["RetryPolicy", "is_retryable", "retry_read"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Jittered exponential backoff inside an overall deadline, for idempotent reads."""

    attempts: int = 4
    deadline_seconds: float = 10.0
    initial_wait: float = 0.1
    max_wait: float = 2.0


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, RegistryError):
        return exc.retryable
    return isinstance(exc, httpx.TransportError)


def _backoff(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    """Jittered exponential waits, or longer when the registry said how long
    (``retryAfterSeconds``, from ``Retry-After`` or a rate-limit header): a throttled
    registry is asked again only once its window reopens, never past the deadline."""
    jittered = wait_random_exponential(multiplier=policy.initial_wait, max=policy.max_wait)

    def wait(state: RetryCallState) -> float:
        pause: float = jittered(state)
        failure = state.outcome.exception() if state.outcome is not None else None
        hinted = failure.extensions.get("retryAfterSeconds") if isinstance(failure, RegistryError) else None
        if isinstance(hinted, int | float) and hinted > pause:
            remaining = policy.deadline_seconds - (state.seconds_since_start or 0.0)
            pause = min(float(hinted), max(remaining, 0.0))
        return pause

    return wait


async def retry_read(call: Callable[[], Awaitable[T]], policy: RetryPolicy) -> T:
    """Run an idempotent read, retrying transient failures. Writes must not use this."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(is_retryable),
        wait=_backoff(policy),
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.deadline_seconds),
        reraise=True,
    ):
        with attempt:
            return await call()
    raise AssertionError("unreachable")  # pragma: no cover

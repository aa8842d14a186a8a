"""Blocking registry clients (boto3) called without blocking the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["run_blocking"]

T = TypeVar("T")


async def run_blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking client call (e.g. boto3) off the event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)

"""Metric history of a version's run: ``metrics/get-history``, one metric per request,
paged. MLflow keeps every logged value (per step), so a series is capped: the
latest ``limit`` points, in step order."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from adapters.mlflow.mapping import is_not_found
from adapters.toolkit.http import JsonHttpClient
from adapters.toolkit.retry import RetryPolicy, retry_read
from gateway.domain import MetricPoint
from gateway.errors import RegistryError

PAGE = 1_000  # points per get-history request
MOST_PAGES = 50  # a series longer than 50,000 points is read no further (its latest are kept)


class MetricHistory:
    def __init__(self, http: JsonHttpClient, retry: RetryPolicy, concurrency: int):
        self._http = http
        self._retry = retry
        self._concurrency = concurrency

    async def read(self, run_id: str, keys: Sequence[str], limit: int) -> dict[str, list[MetricPoint]]:
        semaphore = asyncio.Semaphore(self._concurrency)

        async def one(key: str) -> tuple[str, list[MetricPoint]]:
            async with semaphore:
                return key, await self._series(run_id, key, limit)

        found = await asyncio.gather(*(one(k) for k in dict.fromkeys(keys)))
        return {key: points for key, points in found if points}

    async def _series(self, run_id: str, key: str, limit: int) -> list[MetricPoint]:
        points: list[MetricPoint] = []
        token: str | None = None
        for _ in range(MOST_PAGES):
            params: dict[str, Any] = {"run_id": run_id, "metric_key": key, "max_results": PAGE}
            if token:
                params["page_token"] = token
            try:
                body = await retry_read(partial(self._http.get, "metrics/get-history", params), self._retry)
            except RegistryError as exc:
                if is_not_found(exc):  # the run is gone: no history, not an error
                    return []
                raise
            points.extend(_point(m) for m in body.get("metrics") or ())
            token = body.get("next_page_token")
            if not token:
                break
        points.sort(key=lambda p: (p.step, p.at or datetime.min.replace(tzinfo=UTC)))
        return points[-limit:]


def _point(wire: dict[str, Any]) -> MetricPoint:
    stamp = wire.get("timestamp")
    at = datetime.fromtimestamp(int(stamp) / 1000, UTC) if stamp is not None else None
    return MetricPoint(step=int(wire.get("step") or 0), value=float(wire["value"]), at=at)

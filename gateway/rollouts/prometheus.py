"""A rollout's error rate from Prometheus, for serving systems whose own metrics
the gateway cannot read (or when a team's Prometheus is the source of truth).

``[rollouts] prometheus_error_rate_query`` is PromQL with placeholders
``$endpoint`` (the endpoint's name), ``$variant`` (the candidate's variant),
``$version`` (its mg:// URI) and ``$window`` (the step's length, e.g. ``3600s``),
evaluated as an instant query (``GET /api/v1/query``) at the step's end. The
answer must be one number: an empty vector or NaN (0/0: no requests) is "no
traffic" (None).
"""

from __future__ import annotations

import math
from datetime import datetime
from string import Template
from typing import Any

import httpx

from gateway.errors import RegistryUnavailable

SOURCE = "prometheus"  # the "registry" named in errors about it


class PrometheusGate:
    def __init__(self, url: str, query: str, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self.query = Template(query)
        self.timeout = timeout

    def render(self, endpoint: str, variant: str, version: str, start: datetime, end: datetime) -> str:
        window = max(1, int((end - start).total_seconds()))
        return self.query.safe_substitute(
            endpoint=endpoint.rsplit("/", 1)[-1], variant=variant, version=version, window=f"{window}s"
        )

    async def error_rate(
        self, endpoint: str, variant: str, version: str, start: datetime, end: datetime
    ) -> float | None:
        query = self.render(endpoint, variant, version, start, end)
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.get(
                    f"{self.url}/api/v1/query", params={"query": query, "time": f"{end.timestamp():.3f}"}
                )
        except httpx.HTTPError as exc:
            raise RegistryUnavailable(SOURCE, f"unreachable ({type(exc).__name__})", url=self.url) from exc
        body = (
            response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        )
        if response.status_code != 200 or body.get("status") != "success":
            raise RegistryUnavailable(
                SOURCE, f"query failed: {body.get('error') or response.status_code}", url=self.url
            )
        data = body.get("data") or {}
        result = data.get("result")
        values: list[Any]
        if data.get("resultType") == "scalar":
            values = [result]
        elif data.get("resultType") == "vector":
            values = [r.get("value") for r in result or ()]
        else:
            raise RegistryUnavailable(
                SOURCE, f"the error-rate query gave a {data.get('resultType')}, not a number"
            )
        if not values:
            return None
        if len(values) > 1:
            raise RegistryUnavailable(
                SOURCE, f"the error-rate query gave {len(values)} series; sum them to one"
            )
        sample = values[0]
        if not isinstance(sample, list) or len(sample) != 2:
            raise RegistryUnavailable(SOURCE, "the error-rate query answered an unreadable sample")
        rate = float(sample[1])
        return None if math.isnan(rate) else min(max(rate, 0.0), 1.0)

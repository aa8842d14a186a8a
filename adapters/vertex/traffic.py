"""Endpoint traffic, candidate deployment and error rates on Vertex AI, for canary
rollouts (``TrafficController``, ``CandidateDeployer``, ``ErrorRateReader``).

- Variants are deployed models: ``TrafficShare.variant`` is the DeployedModel
  ID, tied to a catalogue version as ``adapters.vertex.serving`` reads it.
- ``trafficSplit`` takes whole percentages summing to 100 and only IDs of
  models deployed on the endpoint; ``set_traffic`` rounds the engine's
  percentages by largest remainder and replaces the split with
  ``endpoints.patch`` (``updateMask=trafficSplit``). Writing the split the
  endpoint has is harmless.
- A candidate not yet on the endpoint is added with ``endpoints.deployModel``
  (a long-running operation, polled with ``operations.get`` until ``done``):
  the version's ``…/models/ID@VERSION``, the ``dedicatedResources`` (or
  ``automaticResources``) of the deployed model with the largest share, so
  machine types match, and ``trafficSplit`` = the split as it is plus
  ``"0": 0`` (Vertex's name for the model being deployed). One pass waits
  ``deploy_wait_seconds`` for it; a deployment still running is found on the
  endpoint's operations (``endpoints.operations.list``) by the next pass and
  waited on, never started twice.
- Error rate: Cloud Monitoring v3 ``timeSeries.list`` of
  ``aiplatform.googleapis.com/prediction/online/response_count`` (DELTA,
  INT64; label ``response_code``: ``5xx`` or a code) on the monitored resource
  ``aiplatform.googleapis.com/Endpoint`` (label ``endpoint_id``) for metric
  label ``deployed_model_id``: responses with a 5xx code over all responses,
  summed over the window (``ALIGN_SUM`` over one alignment period, then
  ``REDUCE_SUM`` by ``response_code``). No responses: None.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from adapters.toolkit.http import JsonHttpClient
from adapters.toolkit.retry import RetryPolicy
from adapters.vertex.api import VertexApi, error_translator
from adapters.vertex.options import VertexSettings
from adapters.vertex.serving import endpoint_from_wire
from gateway.domain import Endpoint, ModelVersion, TrafficShare
from gateway.errors import RegistryError, RegistryRejected, RegistryUnavailable

RESPONSE_COUNT = "aiplatform.googleapis.com/prediction/online/response_count"
ENDPOINT_RESOURCE = "aiplatform.googleapis.com/Endpoint"
MIN_ALIGNMENT_SECONDS = 60  # Cloud Monitoring's smallest alignment period
# What a new deployed model copies from the one it joins (the rest is Vertex's default).
RESOURCE_KEYS = ("dedicatedResources", "automaticResources")
POLL_FIRST_SECONDS = 1.0
POLL_MAX_SECONDS = 15.0


def whole_percentages(shares: Sequence[TrafficShare]) -> dict[str, int]:
    """Percentages as whole numbers summing to 100 (largest remainder, ties to
    the earlier share). The shares must add up to more than 0."""
    total = sum(s.percent for s in shares)
    exact = [s.percent * 100.0 / total for s in shares]
    floors = [math.floor(x) for x in exact]
    order = sorted(range(len(shares)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[: 100 - sum(floors)]:
        floors[i] += 1
    return {str(s.variant): p for s, p in zip(shares, floors, strict=True)}


class VertexTraffic:
    def __init__(
        self,
        registry_id: str,
        settings: VertexSettings,
        api: VertexApi,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.registry_id = registry_id
        self.settings = settings
        self._api = api
        self._sleep = sleep
        self._clock = clock
        self._monitoring = JsonHttpClient(
            registry_id,
            settings.monitoring_base,
            error_translator(registry_id, "Cloud Monitoring"),
            auth=api.auth,  # one token: scope cloud-platform covers Monitoring reads
            timeout=settings.timeout_seconds,
            retry=retry,
            transport=transport,
        )

    def endpoint_name(self, endpoint: str) -> str:
        """``Endpoint.uri`` (``projects/P/locations/L/endpoints/ID``) or a bare endpoint ID."""
        text = endpoint.strip()
        parts = text.split("/")
        if len(parts) == 6 and parts[0] == "projects" and parts[2] == "locations" and parts[4] == "endpoints":
            if parts[3] != self.settings.location:
                raise RegistryRejected(
                    self.registry_id,
                    f"endpoint {text} is in {parts[3]}; this registry serves {self.settings.location}",
                    status=400,
                )
            return text
        if text.isdigit():
            return f"{self.settings.parent}/endpoints/{text}"
        raise RegistryRejected(
            self.registry_id,
            f"{endpoint!r} names no Vertex AI endpoint (projects/P/locations/L/endpoints/ID, or the ID)",
            status=400,
        )

    def _endpoint(self, wire: Mapping[str, Any]) -> Endpoint:
        return endpoint_from_wire(wire, self.registry_id, self.settings.project, self.settings.location)

    async def endpoint_traffic(self, endpoint: str) -> Endpoint:
        return self._endpoint(await self._api.get_endpoint(self.endpoint_name(endpoint)))

    async def set_traffic(self, endpoint: str, shares: Sequence[TrafficShare]) -> Endpoint:
        if any(not s.variant for s in shares):
            raise RegistryRejected(self.registry_id, "every share must name a deployed model ID")
        if sum(s.percent for s in shares) <= 0:
            raise RegistryRejected(self.registry_id, "a traffic split needs a share above 0 %")
        name = self.endpoint_name(endpoint)
        return self._endpoint(await self._api.patch_traffic_split(name, whole_percentages(shares)))

    async def deploy_candidate(self, endpoint: str, version: ModelVersion) -> Endpoint:
        """Deploy ``version`` with 0 % traffic. A deployment takes minutes: one pass
        waits ``deploy_wait_seconds`` and then raises ``RegistryUnavailable``; the
        next pass finds the operation still running on the endpoint and waits on
        it again rather than deploying twice (also when another replica started it)."""
        name = self.endpoint_name(endpoint)
        what = f"deploying {version.uri} onto {name}"
        deadline = self._clock() + self.settings.deploy_wait_seconds
        for pending in await self._deploys_under_way(name):
            await self._wait(pending, what, deadline)
        current = await self.endpoint_traffic(name)
        if any(s.version_uri == version.uri for s in current.traffic):
            return current  # the deployment a previous pass started has finished
        wire = await self._api.get_endpoint(name)
        deployed = list(wire.get("deployedModels") or ())
        if not deployed:
            raise RegistryRejected(self.registry_id, f"endpoint {name} has no deployed model to copy")
        split = {str(k): int(v) for k, v in (wire.get("trafficSplit") or {}).items()}
        template = max(deployed, key=lambda d: split.get(str(d.get("id")), 0))
        model = {
            "model": self._api.model_path(version.model_name, version.version),
            "displayName": f"{version.model_name}-v{version.version}"[:128],
            **{k: template[k] for k in RESOURCE_KEYS if k in template},
        }
        operation = await self._api.deploy_model(name, model, {**split, "0": 0})
        await self._wait(operation, what, deadline)
        return await self.endpoint_traffic(name)

    async def _deploys_under_way(self, name: str) -> list[Mapping[str, Any]]:
        """The endpoint's ``deployModel`` operations not yet done (any model's: the
        split is only safe to copy once they have finished)."""
        found: list[Mapping[str, Any]] = []
        token: str | None = None
        while True:
            try:
                body = await self._api.list_operations(name, token)
            except RegistryError as exc:
                if exc.status == 501:  # UNIMPLEMENTED: nothing to learn here
                    return found
                raise
            for op in body.get("operations") or ():
                kind = str((op.get("metadata") or {}).get("@type", ""))
                if not op.get("done") and kind.endswith(".DeployModelOperationMetadata"):
                    found.append(op)
            token = body.get("nextPageToken") or None
            if token is None:
                return found

    async def _wait(self, operation: Mapping[str, Any], what: str, deadline: float) -> Mapping[str, Any]:
        delay = POLL_FIRST_SECONDS
        while not operation.get("done"):
            if self._clock() >= deadline:
                raise RegistryUnavailable(
                    self.registry_id,
                    f"{what}: operation {operation.get('name')} still running after "
                    f"{self.settings.deploy_wait_seconds:g} s; the next pass looks again",
                )
            operation = await self._api.get_operation(str(operation["name"]))
            if not operation.get("done"):
                await self._sleep(min(delay, max(0.0, deadline - self._clock())))
                delay = min(delay * 2, POLL_MAX_SECONDS)
        error = operation.get("error")
        if error:
            raise RegistryRejected(
                self.registry_id,
                f"{what} failed: {error.get('message') or 'no message'} (code {error.get('code')})",
            )
        return operation

    async def error_rate(self, endpoint: str, variant: str, start: datetime, end: datetime) -> float | None:
        endpoint_id = self.endpoint_name(endpoint).rsplit("/", 1)[-1]
        period = max(MIN_ALIGNMENT_SECONDS, math.ceil((end - start).total_seconds()))
        params: dict[str, Any] = {
            "filter": (
                f'metric.type = "{RESPONSE_COUNT}" AND resource.type = "{ENDPOINT_RESOURCE}" '
                f'AND resource.labels.endpoint_id = "{endpoint_id}" '
                f'AND metric.labels.deployed_model_id = "{variant}"'
            ),
            "interval.startTime": _rfc3339(start),
            "interval.endTime": _rfc3339(end),
            "aggregation.alignmentPeriod": f"{period}s",
            "aggregation.perSeriesAligner": "ALIGN_SUM",
            "aggregation.crossSeriesReducer": "REDUCE_SUM",
            "aggregation.groupByFields": "metric.labels.response_code",
        }
        total = errors = 0.0
        token: str | None = None
        while True:
            page = {**params, **({"pageToken": token} if token else {})}
            body = await self._monitoring.get(f"projects/{self.settings.project}/timeSeries", page)
            for series in body.get("timeSeries") or ():
                code = str(((series.get("metric") or {}).get("labels") or {}).get("response_code", ""))
                count = sum(_number(p.get("value") or {}) for p in series.get("points") or ())
                total += count
                if code.startswith("5"):
                    errors += count
            token = body.get("nextPageToken") or None
            if token is None:
                break
        if total <= 0:
            return None
        return min(1.0, errors / total)

    async def aclose(self) -> None:
        await self._monitoring.aclose()


def _number(value: Mapping[str, Any]) -> float:
    """A TypedValue's number (int64 travels as a string)."""
    if "int64Value" in value:
        return float(value["int64Value"])
    return float(value.get("doubleValue") or 0.0)


def _rfc3339(moment: datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

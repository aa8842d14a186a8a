"""Endpoint traffic and error rates for canary rollouts (``TrafficController``,
``ErrorRateReader``).

- Variants are tied to catalogue versions as ``adapters.sagemaker.serving`` reads them.
- Weights are relative (AWS normalises them); modelgate writes percentages,
  so they read back as percentages. ``UpdateEndpointWeightsAndCapacities``
  changes weights on a live endpoint without a new endpoint config.
- Error rate: CloudWatch ``AWS/SageMaker`` ``Invocation5XXErrors`` over
  ``Invocations`` (Sum), dimensions ``EndpointName`` and ``VariantName``.

Adding the candidate as a new variant of a live endpoint needs
``CreateEndpointConfig`` + ``UpdateEndpoint``; not done here: the candidate
must already be a variant of the endpoint (weight 0 is fine).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from datetime import datetime

from adapters.sagemaker.calls import SageMakerCalls
from adapters.sagemaker.options import SageMakerOptions
from adapters.sagemaker.serving import ServingReads
from gateway.domain import Endpoint, TrafficShare
from gateway.errors import RegistryRejected

NAMESPACE = "AWS/SageMaker"


def endpoint_name(endpoint: str) -> str:
    """``arn:aws:sagemaker:<region>:<account>:endpoint/<name>`` or a plain name -> the name."""
    if endpoint.startswith("arn:") and ":endpoint/" in endpoint:
        return endpoint.split(":endpoint/", 1)[1]
    return endpoint


class SageMakerTraffic:
    def __init__(self, registry_id: str, options: SageMakerOptions, calls: SageMakerCalls):
        self.registry_id = registry_id
        self.calls = calls
        metrics = dataclasses.replace(
            options, endpoint_url=options.metrics_endpoint_url or options.endpoint_url
        )
        self.metrics = SageMakerCalls(registry_id, metrics, service="cloudwatch")

    async def endpoint_traffic(self, endpoint: str) -> Endpoint:
        """The endpoint's variants and shares, read as ``list_endpoints`` reads them."""
        name = endpoint_name(endpoint)
        found = await ServingReads(self.calls, self.registry_id, 4).endpoint(name)
        if found is None:
            raise RegistryRejected(self.registry_id, f"no SageMaker endpoint {name!r}", status=404)
        return found

    async def set_traffic(self, endpoint: str, shares: Sequence[TrafficShare]) -> Endpoint:
        await self.calls.write(
            "update_endpoint_weights_and_capacities",
            EndpointName=endpoint_name(endpoint),
            DesiredWeightsAndCapacities=[
                {"VariantName": s.variant, "DesiredWeight": float(s.percent)} for s in shares
            ],
        )
        return await self.endpoint_traffic(endpoint)

    async def error_rate(self, endpoint: str, variant: str, start: datetime, end: datetime) -> float | None:
        # One period covering the whole window (a multiple of 60 s, CloudWatch's
        # standard resolution), so each metric is one Sum.
        period = max(60, math.ceil((end - start).total_seconds() / 60) * 60)
        dimensions = [
            {"Name": "EndpointName", "Value": endpoint_name(endpoint)},
            {"Name": "VariantName", "Value": variant},
        ]

        async def total(metric: str) -> float:
            answer = await self.metrics.read(
                "get_metric_statistics",
                Namespace=NAMESPACE,
                MetricName=metric,
                Dimensions=dimensions,
                StartTime=start,
                EndTime=end,
                Period=period,
                Statistics=["Sum"],
            )
            return float(sum(p.get("Sum", 0.0) for p in answer.get("Datapoints", [])))

        invocations = await total("Invocations")
        if invocations <= 0:
            return None
        return min(1.0, await total("Invocation5XXErrors") / invocations)

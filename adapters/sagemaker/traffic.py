"""Endpoint traffic and error rates for canary rollouts (``TrafficController``,
``ErrorRateReader``).

- A SageMaker endpoint's production variants each serve one SageMaker Model;
  a Model made from a registry version names it in
  ``PrimaryContainer.ModelPackageName`` (or a ``Containers`` entry) as the
  package ARN. That is how a variant is tied to a catalogue version.
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
from typing import Any

from adapters.base import to_utc
from adapters.sagemaker.calls import SageMakerCalls
from adapters.sagemaker.lineage import gather_bounded
from adapters.sagemaker.options import SageMakerOptions
from gateway.domain import Endpoint, TrafficShare, version_uri
from gateway.errors import RegistryRejected

NAMESPACE = "AWS/SageMaker"


def endpoint_name(endpoint: str) -> str:
    """``arn:aws:sagemaker:<region>:<account>:endpoint/<name>`` or a plain name -> the name."""
    if endpoint.startswith("arn:") and ":endpoint/" in endpoint:
        return endpoint.split(":endpoint/", 1)[1]
    return endpoint


def _package_of(model: dict[str, Any]) -> str | None:
    containers = [model.get("PrimaryContainer") or {}, *(model.get("Containers") or [])]
    return next((c["ModelPackageName"] for c in containers if c.get("ModelPackageName")), None)


class SageMakerTraffic:
    def __init__(self, registry_id: str, options: SageMakerOptions, calls: SageMakerCalls):
        self.registry_id = registry_id
        self.calls = calls
        metrics = dataclasses.replace(
            options, endpoint_url=options.metrics_endpoint_url or options.endpoint_url
        )
        self.metrics = SageMakerCalls(registry_id, metrics, service="cloudwatch")
        self._versions: dict[str, str | None] = {}  # model name -> version URI (models are immutable)

    async def _version_of_model(self, model_name: str) -> str | None:
        if model_name not in self._versions:
            model = await self.calls.read_or_none("describe_model", ModelName=model_name)
            package_arn = _package_of(model or {})
            uri = None
            if package_arn:
                # The ARN lowercases the group; the package itself spells it as created.
                package = await self.calls.read_or_none("describe_model_package", ModelPackageName=package_arn)
                if package and package.get("ModelPackageVersion") is not None:
                    uri = version_uri(
                        self.registry_id, package["ModelPackageGroupName"], str(package["ModelPackageVersion"])
                    )
            self._versions[model_name] = uri
        return self._versions[model_name]

    async def _variant_version(self, model_name: str | None) -> str | None:
        return await self._version_of_model(model_name) if model_name else None

    async def endpoint_traffic(self, endpoint: str) -> Endpoint:
        name = endpoint_name(endpoint)
        described = await self.calls.read_or_none("describe_endpoint", EndpointName=name)
        if described is None:
            raise RegistryRejected(self.registry_id, f"no SageMaker endpoint {name!r}", status=404)
        config = await self.calls.read(
            "describe_endpoint_config", EndpointConfigName=described["EndpointConfigName"]
        )
        models = {v["VariantName"]: v.get("ModelName") for v in config.get("ProductionVariants", [])}
        variants = described.get("ProductionVariants") or config.get("ProductionVariants") or []
        weights = [
            float(v.get("CurrentWeight", v.get("DesiredWeight", v.get("InitialVariantWeight", 0.0))))
            for v in variants
        ]
        total = sum(weights)
        uris = await gather_bounded(4, [self._variant_version(models.get(v["VariantName"])) for v in variants])
        shares = tuple(
            TrafficShare(
                percent=round(100.0 * w / total, 6) if total > 0 else 0.0,
                version_uri=uri,
                variant=v["VariantName"],
            )
            for v, w, uri in zip(variants, weights, uris, strict=True)
        )
        return Endpoint(
            uri=described["EndpointArn"],
            name=described["EndpointName"],
            registry_id=self.registry_id,
            status=described.get("EndpointStatus"),
            traffic=shares,
            updated_at=to_utc(described.get("LastModifiedTime")),
        )

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



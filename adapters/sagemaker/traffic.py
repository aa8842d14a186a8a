"""Endpoint traffic and error rates for canary rollouts (``TrafficController``,
``ErrorRateReader``).

- Variants are tied to catalogue versions as ``adapters.sagemaker.serving`` reads them.
- Weights are relative (AWS normalises them); modelgate writes percentages,
  so they read back as percentages. ``UpdateEndpointWeightsAndCapacities``
  changes weights on a live endpoint without a new endpoint config.
- Error rate: CloudWatch ``AWS/SageMaker`` ``Invocation5XXErrors`` over
  ``Invocations`` (Sum), dimensions ``EndpointName`` and ``VariantName``.

- A candidate not yet on the endpoint (``CandidateDeployer``) is added as a
  variant with weight 0: CreateModel from its package (with the execution
  role of the endpoint's first variant's model), CreateEndpointConfig with
  every variant as it is now plus the new one, UpdateEndpoint. The endpoint
  keeps serving throughout (SageMaker's blue/green update).
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import Sequence
from datetime import datetime

from adapters.sagemaker.api import SageMakerApi
from adapters.sagemaker.options import SageMakerOptions
from adapters.sagemaker.serving import ServingReads
from gateway.domain import Endpoint, ModelVersion, TrafficShare
from gateway.errors import RegistryRejected

NAMESPACE = "AWS/SageMaker"
# What a variant keeps when its endpoint's config is copied to add a candidate.
VARIANT_KEYS = (
    "VariantName",
    "ModelName",
    "InitialInstanceCount",
    "InstanceType",
    "AcceleratorType",
    "ServerlessConfig",
    "ModelDataDownloadTimeoutInSeconds",
    "ContainerStartupHealthCheckTimeoutInSeconds",
)


def _resource_name(base: str, suffix: str) -> str:
    """A SageMaker resource name (``[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``) from ``base``."""
    cleaned = "".join(c if c.isalnum() else "-" for c in base).strip("-")
    return f"{cleaned[: 62 - len(suffix)].rstrip('-')}-{suffix}"


def endpoint_name(endpoint: str) -> str:
    """``arn:aws:sagemaker:<region>:<account>:endpoint/<name>`` or a plain name -> the name."""
    if endpoint.startswith("arn:") and ":endpoint/" in endpoint:
        return endpoint.split(":endpoint/", 1)[1]
    return endpoint


class SageMakerTraffic:
    def __init__(self, registry_id: str, options: SageMakerOptions, calls: SageMakerApi):
        self.registry_id = registry_id
        self.calls = calls
        metrics = dataclasses.replace(
            options, endpoint_url=options.metrics_endpoint_url or options.endpoint_url
        )
        self.metrics = SageMakerApi(registry_id, metrics, service="cloudwatch")

    async def endpoint_traffic(self, endpoint: str) -> Endpoint:
        """The endpoint's variants and shares, read as ``list_endpoints`` reads them."""
        name = endpoint_name(endpoint)
        found = await ServingReads(self.calls, self.registry_id, 4).endpoint(name)
        if found is None:
            raise RegistryRejected(self.registry_id, f"no SageMaker endpoint {name!r}", status=404)
        return found

    async def deploy_candidate(self, endpoint: str, version: ModelVersion) -> Endpoint:
        package_arn = version.native.get("arn")
        if not package_arn:
            raise RegistryRejected(self.registry_id, f"{version.uri} has no model package ARN to deploy")
        name = endpoint_name(endpoint)
        current = await self.endpoint_traffic(name)
        described = await self.calls.read("describe_endpoint", EndpointName=name)
        config = await self.calls.read(
            "describe_endpoint_config", EndpointConfigName=described["EndpointConfigName"]
        )
        variants = config.get("ProductionVariants") or []
        if not variants:
            raise RegistryRejected(self.registry_id, f"endpoint {name} has no production variant to copy")
        template = variants[0]
        role = (await self.calls.read("describe_model", ModelName=template["ModelName"]))["ExecutionRoleArn"]
        suffix = uuid.uuid4().hex[:8]
        model_name = _resource_name(f"{version.model_name}-v{version.version}", suffix)
        await self.calls.write(
            "create_model",
            ModelName=model_name,
            ExecutionRoleArn=role,
            PrimaryContainer={"ModelPackageName": package_arn},
        )
        weights = {s.variant: s.percent for s in current.traffic}
        kept = [
            {
                **{k: v[k] for k in VARIANT_KEYS if k in v},
                "InitialVariantWeight": float(
                    weights.get(v["VariantName"], v.get("InitialVariantWeight", 1.0))
                ),
            }
            for v in variants
        ]
        added = {
            **{k: template[k] for k in ("InitialInstanceCount", "InstanceType") if k in template},
            "VariantName": _resource_name(f"v{version.version}", suffix),
            "ModelName": model_name,
            "InitialVariantWeight": 0.0,
        }
        config_name = _resource_name(name, suffix)
        await self.calls.write(
            "create_endpoint_config", EndpointConfigName=config_name, ProductionVariants=[*kept, added]
        )
        await self.calls.write("update_endpoint", EndpointName=name, EndpointConfigName=config_name)
        return await self.endpoint_traffic(name)

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

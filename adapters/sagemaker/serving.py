"""What SageMaker serves: endpoints, their production variants, and the model
package version behind each variant (``ServingReader``).

The chain, per endpoint (every call a read, retried):
ListEndpoints → DescribeEndpoint (variants with CurrentWeight/DesiredWeight,
status) → DescribeEndpointConfig (variant → SageMaker Model) → DescribeModel
(containers; one created from the registry names ``ModelPackageName``) →
DescribeModelPackage (the group name as spelt, since package ARNs lowercase
it, and the version number) → ``mg://<registry>/<group>/<version>``.

A variant's share is its weight over the sum of the endpoint's weights, as
SageMaker routes traffic. The weight read is ``CurrentWeight`` (what serves
now), else ``DesiredWeight``, else the config's ``InitialVariantWeight``, else
1.0 (AWS's default). Shadow variants receive a copy of traffic, not a share of
it, and are not read. A variant whose model was not created from a model
package of this region (a bare image and ``ModelDataUrl``), or whose model or
package has been deleted, is still listed, with its variant name and no version.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from adapters.sagemaker.api import SageMakerApi, paging
from adapters.sagemaker.lineage import gather_bounded
from adapters.toolkit.timestamps import to_utc
from gateway.domain import Endpoint, TrafficShare, version_uri

log = logging.getLogger(__name__)
PAGE_SIZE = 100  # ListEndpoints' maximum MaxResults
DEFAULT_WEIGHT = 1.0  # AWS: InitialVariantWeight "defaults to 1.0"


def variant_weight(variant: Mapping[str, Any], configured: Mapping[str, Any] | None) -> float:
    """The weight SageMaker routes by now (see the module docstring for the order)."""
    for value in (
        variant.get("CurrentWeight"),
        variant.get("DesiredWeight"),
        (configured or {}).get("InitialVariantWeight"),
    ):
        if value is not None:
            return max(float(value), 0.0)
    return DEFAULT_WEIGHT


def traffic_percents(weights: Mapping[str, float]) -> dict[str, float]:
    """Each variant's weight as a percentage of the sum (0 for all when nothing is weighted)."""
    total = sum(weights.values())
    return {name: (100.0 * w / total if total > 0 else 0.0) for name, w in weights.items()}


def package_names(model: Mapping[str, Any]) -> list[str]:
    """The ``ModelPackageName`` values of a DescribeModel answer's containers."""
    containers = [model.get("PrimaryContainer") or {}, *(model.get("Containers") or [])]
    return [str(c["ModelPackageName"]) for c in containers if c.get("ModelPackageName")]


class ServingReads:
    """One pass over the endpoints; package lookups are cached within the pass
    (many variants and endpoints usually serve the same few packages)."""

    def __init__(self, calls: SageMakerApi, registry_id: str, concurrency: int):
        self._calls = calls
        self._registry_id = registry_id
        self._concurrency = concurrency
        self._packages: dict[str, str | None] = {}

    async def endpoints(self) -> list[Endpoint]:
        summaries: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = await self._calls.read(
                "list_endpoints",
                SortBy="Name",
                SortOrder="Ascending",
                MaxResults=PAGE_SIZE,
                **paging(token),
            )
            summaries += page.get("Endpoints", [])
            token = page.get("NextToken")
            if not token:
                break
        found = await gather_bounded(
            self._concurrency, [self._endpoint(s["EndpointName"]) for s in summaries]
        )
        return [e for e in found if e is not None]

    async def endpoint(self, name: str) -> Endpoint | None:
        """One endpoint by name, None if it does not exist."""
        return await self._endpoint(name)

    async def _endpoint(self, name: str) -> Endpoint | None:
        described = await self._calls.read_or_none("describe_endpoint", EndpointName=name)
        if described is None:  # deleted since the listing
            return None
        configured = await self._configured_variants(described.get("EndpointConfigName"))
        variants = described.get("ProductionVariants") or []
        weights = {v["VariantName"]: variant_weight(v, configured.get(v["VariantName"])) for v in variants}
        percents = traffic_percents(weights)
        traffic = []
        for variant in variants:
            variant_name = variant["VariantName"]
            model_name = (configured.get(variant_name) or {}).get("ModelName")
            traffic.append(
                TrafficShare(
                    percent=percents[variant_name],
                    version_uri=await self._version_of_model(model_name) if model_name else None,
                    variant=variant_name,
                )
            )
        return Endpoint(
            uri=described["EndpointArn"],
            name=described["EndpointName"],
            registry_id=self._registry_id,
            status=described.get("EndpointStatus"),
            traffic=tuple(traffic),
            updated_at=to_utc(described.get("LastModifiedTime") or described.get("CreationTime")),
        )

    async def _configured_variants(self, config_name: str | None) -> dict[str, dict[str, Any]]:
        if not config_name:
            return {}
        config = await self._calls.read_or_none("describe_endpoint_config", EndpointConfigName=config_name)
        return {v["VariantName"]: v for v in (config or {}).get("ProductionVariants") or []}

    async def _version_of_model(self, model_name: str) -> str | None:
        model = await self._calls.read_or_none("describe_model", ModelName=model_name)
        for package in package_names(model or {}):
            uri = await self._version_of_package(package)
            if uri:
                return uri
        return None

    async def _version_of_package(self, package: str) -> str | None:
        if package not in self._packages:
            described = await self._calls.read_or_none("describe_model_package", ModelPackageName=package)
            group = (described or {}).get("ModelPackageGroupName")
            number = (described or {}).get("ModelPackageVersion")
            self._packages[package] = (
                version_uri(self._registry_id, group, str(number)) if group and number is not None else None
            )
            if self._packages[package] is None:
                log.info("registry %s: %s is no versioned package here", self._registry_id, package)
        return self._packages[package]

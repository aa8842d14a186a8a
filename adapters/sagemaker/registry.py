"""The SageMaker Model Registry adapter: model package groups are models,
versioned model packages are versions.

Surprises it handles (see the method docstrings for each):
- List calls return summaries without tags, inference specs or customer
  metadata, so every listed package is described (bounded concurrency).
- A versioned package has no name, only an ARN whose group part is
  lowercased (``model-package/my-group/3`` for group ``My-Group``; verified on
  moto, which copies AWS's ARN formats), while the group's ARN keeps the case.
- There is no change feed, and a package update does not touch its group.
- UpdateModelPackage on moto replaces instead of merging; the adapter always
  re-sends the fields that must survive.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from adapters.base import ChangeSet, Health, Page, archive_other_production
from adapters.sagemaker.api import OperationUnsupported, SageMakerApi, paging
from adapters.sagemaker.lineage import api_edges, gather_bounded
from adapters.sagemaker.links import sagemaker_console_url
from adapters.sagemaker.mapping import model_from_group, version_from_package
from adapters.sagemaker.options import SageMakerOptions, StageMapping
from adapters.sagemaker.serving import ServingReads
from adapters.sagemaker.traffic import SageMakerTraffic
from adapters.toolkit.paging import listing
from gateway.domain import (
    Endpoint,
    LineageEdge,
    LineageNode,
    Model,
    ModelVersion,
    Relation,
    Stage,
    TrafficShare,
    record_edges,
    version_node,
)
from gateway.errors import RegistryError, RegistryRejected

log = logging.getLogger(__name__)
PAGE_SIZE = 100  # SageMaker's maximum MaxResults for both listings


class SageMakerRegistry:
    """The ``sagemaker`` adapter (implements ``RegistryAdapter``)."""

    kind = "sagemaker"

    def __init__(
        self,
        registry_id: str,
        options: SageMakerOptions,
        *,
        team: str | None = None,
        client: Any | None = None,
    ):
        """``client``: an already built boto3 SageMaker client (tests inject one
        wrapped in botocore's Stubber); by default one is built on first use."""
        self.registry_id = registry_id
        self.team = team
        self.options = options
        self.mapping = StageMapping(options)
        self.calls = SageMakerApi(registry_id, options, client)
        self.traffic = SageMakerTraffic(registry_id, options, self.calls)
        # "arn:aws:sagemaker:<region>:<account>": the same for every group of a
        # registry, learnt from the first group ARN seen.
        self._arn_prefix: str | None = None

    # --- serving traffic (canary rollouts; adapters.sagemaker.traffic) -------

    async def endpoint_traffic(self, endpoint: str) -> Endpoint:
        return await self.traffic.endpoint_traffic(endpoint)

    async def set_traffic(self, endpoint: str, shares: Sequence[TrafficShare]) -> Endpoint:
        return await self.traffic.set_traffic(endpoint, shares)

    async def deploy_candidate(self, endpoint: str, version: ModelVersion) -> Endpoint:
        return await self.traffic.deploy_candidate(endpoint, version)

    async def error_rate(self, endpoint: str, variant: str, start: datetime, end: datetime) -> float | None:
        return await self.traffic.error_rate(endpoint, variant, start, end)

    # --- models ------------------------------------------------------------

    def _learn_prefix(self, group_arn: str | None) -> None:
        if group_arn and ":model-package-group/" in group_arn:
            self._arn_prefix = group_arn.split(":model-package-group/", 1)[0]

    async def _group_tags(self, group_arn: str) -> dict[str, str]:
        tags: dict[str, str] = {}
        token: str | None = None
        while True:
            page = await self.calls.read("list_tags", ResourceArn=group_arn, **paging(token))
            tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
            token = page.get("NextToken")
            if not token:
                return tags

    async def _model(self, group: dict[str, Any]) -> Model:
        self._learn_prefix(group.get("ModelPackageGroupArn"))
        tags = (
            await self._group_tags(group["ModelPackageGroupArn"]) if group.get("ModelPackageGroupArn") else {}
        )
        return model_from_group(self.registry_id, group, tags, self.team)

    async def list_models(self, page_token: str | None = None) -> Page[Model]:
        """Groups by name. The listing has no tags, so each group's tags are read
        with ListTags (up to ``max_concurrency`` at once)."""
        page = await self.calls.read(
            "list_model_package_groups",
            SortBy="Name",
            SortOrder="Ascending",
            MaxResults=PAGE_SIZE,
            **paging(page_token),
        )
        # The API always sends the list (its reference: Required); an answer without it is
        # not an empty registry.
        groups = listing(
            self.registry_id,
            page,
            "ModelPackageGroupSummaryList",
            what="ListModelPackageGroups",
            always_sent=True,
        )
        models = await gather_bounded(self.options.max_concurrency, [self._model(g) for g in groups])
        return Page(models, page.get("NextToken") or None)

    async def get_model(self, name: str) -> Model | None:
        group = await self.calls.read_or_none("describe_model_package_group", ModelPackageGroupName=name)
        return await self._model(group) if group else None

    # --- versions ----------------------------------------------------------

    def _version(self, package: dict[str, Any]) -> ModelVersion:
        return version_from_package(self.registry_id, package, self.mapping, self.team)

    async def _describe(self, arn: str) -> dict[str, Any] | None:
        return await self.calls.read_or_none("describe_model_package", ModelPackageName=arn)

    async def list_versions(self, model_name: str, page_token: str | None = None) -> Page[ModelVersion]:
        """Versions oldest first. ListModelPackages returns summaries only (no
        inference spec, customer metadata, lifecycle on every endpoint), so each
        is described; a package deleted between the two calls is skipped.
        The group name must always be passed: without it SageMaker lists only
        *unversioned* packages. A missing group lists as empty."""
        page = await self.calls.read(
            "list_model_packages",
            ModelPackageGroupName=model_name,
            ModelPackageType="Versioned",
            SortBy="CreationTime",
            SortOrder="Ascending",
            MaxResults=PAGE_SIZE,
            **paging(page_token),
        )
        summaries = listing(
            self.registry_id, page, "ModelPackageSummaryList", what="ListModelPackages", always_sent=True
        )
        described = await gather_bounded(
            self.options.max_concurrency, [self._describe(s["ModelPackageArn"]) for s in summaries]
        )
        versions = [self._version(d) for d in described if d is not None]
        return Page(versions, page.get("NextToken") or None)

    async def _package_arns(self, name: str, version: str) -> list[str]:
        if self._arn_prefix is None:
            group = await self.calls.read_or_none("describe_model_package_group", ModelPackageGroupName=name)
            if group is None:
                return []
            self._learn_prefix(group.get("ModelPackageGroupArn"))
        arns = [f"{self._arn_prefix}:model-package/{name.lower()}/{version}"] if self._arn_prefix else []
        # The service model's VersionedArnOrName also allows "<group>/<version>".
        return [*arns, f"{name}/{version}"]

    async def _find_package(self, name: str, version: str) -> dict[str, Any] | None:
        """DescribeModelPackage needs the ARN of a versioned package. The ARN is
        built from the account prefix and the lowercased group name (as SageMaker
        and moto spell it); ``<group>/<version>`` is the fallback the service
        model allows."""
        if not version.isdigit():
            return None
        for reference in await self._package_arns(name, version):
            package = await self._describe(reference)
            if package is None:
                continue
            group = package.get("ModelPackageGroupName") or package.get("ModelPackageName") or ""
            if group.lower() == name.lower():
                return package
        return None

    async def get_version(self, name: str, version: str) -> ModelVersion | None:
        package = await self._find_package(name, version)
        return self._version(package) if package else None

    async def changes_since(self, cursor: str | None) -> ChangeSet:
        """Always "compare a full listing" (``changed=None``). SageMaker has no
        change feed; ListModelPackageGroups' CreationTimeAfter misses updates,
        because packages change without touching their group; tag changes leave
        no trace; and a Search on ``LastModifiedTime`` cannot be trusted here:
        a package has no LastModifiedTime until its first update, moto 5.2.5
        evaluates ``GreaterThan`` as ``Equals`` (so it finds nothing), and how
        fresh Search's index is on AWS is not documented. The cursor records
        when the pass started, for operators."""
        return ChangeSet(cursor=datetime.now(UTC).isoformat(), changed=None)

    # --- lineage -----------------------------------------------------------

    def _record_edges(self, version: ModelVersion) -> list[LineageEdge]:
        edges = record_edges(version)  # code (MetadataProperties), parent (SourceUri)
        if version.artifact_uri:
            node = LineageNode(version.artifact_uri, "artifact", version.artifact_uri)
            edges.append(LineageEdge(version_node(version), node, Relation.SAME_AS))
        return edges

    async def lineage(self, version: ModelVersion) -> list[LineageEdge]:
        """Record edges (model data as SAME_AS, training code, a cloned-from parent)
        plus what SageMaker's lineage API knows: datasets (TRAINED_ON), training
        jobs (PRODUCED_BY), DerivedFrom packages (DERIVED_FROM, by package ARN)
        and SameAs links. An endpoint without the lineage API (moto) yields the
        record edges only."""
        edges = self._record_edges(version)
        if self.options.lineage:
            try:
                edges += await api_edges(
                    self.calls,
                    version,
                    max_depth=self.options.lineage_max_depth,
                    concurrency=self.options.max_concurrency,
                )
            except OperationUnsupported as exc:
                log.info("registry %s: no lineage API (%s); record edges only", self.registry_id, exc.message)
        unique: dict[tuple[str, str, Relation], LineageEdge] = {}
        for e in edges:
            unique.setdefault((e.source.uri, e.target.uri, e.relation), e)
        return list(unique.values())

    # --- serving -----------------------------------------------------------

    async def list_endpoints(self) -> list[Endpoint]:
        """Every endpoint of the region with its variants' traffic shares and the
        package version each serves (``ServingReader``; see ``adapters.sagemaker.serving``)."""
        return await ServingReads(self.calls, self.registry_id, self.options.max_concurrency).endpoints()

    # --- writes ------------------------------------------------------------

    async def set_stage(self, version: ModelVersion, stage: Stage, *, actor: str) -> ModelVersion:
        """Write an approved promotion as approval status and/or ModelLifeCycle.

        The package is described first and every field UpdateModelPackage could
        lose is sent again: moto (and any endpoint that replaces rather than
        merges) nulls an omitted ApprovalDescription, CustomerMetadataProperties
        or approval status. Nothing is written when the package already reads as
        ``stage``. The write is sent once (never retried); the version is then
        re-read, and an endpoint that silently dropped the change (moto drops
        ModelLifeCycle) is reported as an error rather than a success.

        SageMaker lets any number of packages be Approved, so PRODUCTION alone
        would leave the previous production package deployable next to the new
        one. After promoting, every other package of the group that still reads
        PRODUCTION is written ARCHIVED (``Rejected`` and/or lifecycle ``Archived``
        per the stage mapping), as MLflow's ``archive_existing_versions`` does.
        If one of those writes fails, the error's ``extensions.applied`` says the
        promotion itself took effect.
        """
        arn = version.native.get("arn")
        package = (
            await self._describe(arn)
            if arn
            else await self._find_package(version.model_name, version.version)
        )
        if package is None:
            raise RegistryRejected(self.registry_id, f"{version.uri} no longer exists", awsCode="NotFound")
        result = await self._write_stage(package, version.uri, stage, actor)
        if stage is Stage.PRODUCTION:

            async def archive(other: ModelVersion) -> None:
                package = await self._describe(other.native["arn"]) if other.native.get("arn") else None
                if package is not None:
                    why = f"superseded by {result.uri}"
                    await self._write_stage(package, other.uri, Stage.ARCHIVED, actor, why=why)

            await archive_other_production(self, result, archive)
        return result

    async def _write_stage(
        self, package: dict[str, Any], uri: str, stage: Stage, actor: str, *, why: str | None = None
    ) -> ModelVersion:
        approval = package.get("ModelApprovalStatus")
        lifecycle = package.get("ModelLifeCycle") or None
        try:
            plan = self.mapping.plan(stage, approval, lifecycle)
        except ValueError as exc:
            raise RegistryRejected(self.registry_id, str(exc)) from None
        note = f"{stage.value} through modelgate, approved promotion applied by {actor}"
        note = (f"{note} ({why})" if why else note)[:1024]
        update: dict[str, Any] = {"ModelPackageArn": package["ModelPackageArn"]}
        if plan.approval_status or approval:
            update["ModelApprovalStatus"] = plan.approval_status or approval
        if plan.approval_status:
            update["ApprovalDescription"] = note
        elif package.get("ApprovalDescription"):
            update["ApprovalDescription"] = package["ApprovalDescription"]
        if package.get("CustomerMetadataProperties"):
            update["CustomerMetadataProperties"] = package["CustomerMetadataProperties"]
        if plan.lifecycle_stage:
            update["ModelLifeCycle"] = {
                "Stage": plan.lifecycle_stage,
                "StageStatus": plan.lifecycle_status,
                "StageDescription": note,
            }
        elif lifecycle:
            update["ModelLifeCycle"] = lifecycle
        if plan.approval_status or plan.lifecycle_stage:
            await self.calls.write("update_model_package", **update)
            log.info("registry %s: %s set to %s by %s", self.registry_id, uri, stage.value, actor)
        reread = await self._describe(package["ModelPackageArn"])
        if reread is None:
            raise RegistryRejected(self.registry_id, f"{uri} vanished after UpdateModelPackage")
        result = self._version(reread)
        if result.stage is not stage:
            raise RegistryError(
                self.registry_id,
                f"UpdateModelPackage was accepted but {uri} now reads {result.stage.value} "
                f"({result.native_stage!r}), not {stage.value}; does this endpoint keep ModelLifeCycle?",
            )
        return result

    # --- health ------------------------------------------------------------

    def source_url(self, model_name: str, version: str | None = None) -> str | None:
        """The model package group's page in the AWS console (``SourceLinker``)."""
        return sagemaker_console_url(self.options.region, self.options.endpoint_url, model_name)

    async def health(self) -> Health:
        """One cheap, unretried listing: proves the endpoint, the credentials and
        the ``sagemaker:ListModelPackageGroups`` permission."""
        try:
            await self.calls.read_once("list_model_package_groups", MaxResults=1)
        except RegistryError as exc:
            return Health(False, exc.message)
        except Exception as exc:  # a probe reports, it never crashes
            return Health(False, f"health check failed: {type(exc).__name__}: {exc}")
        return Health(True)

    async def aclose(self) -> None:
        """boto3 clients hold only a connection pool, released when collected."""

"""Lineage SageMaker itself records for a model package.

SageMaker does not put a package ARN into the lineage graph directly: on
CreateModelPackage it creates a lineage *artifact* whose ``Source.SourceUri``
is the package ARN (plus artifacts for its images and model data, and a
context for the group). So a query is three steps:

1. ``ListArtifacts(SourceUri=<package ARN>)`` finds the package's artifact;
2. ``QueryLineage(StartArns=[artifact], Direction=Ascendants)`` walks upstream:
   model data <- training job (trial component) <- datasets;
3. ``ListAssociations`` on the artifact, both ways, finds ``DerivedFrom`` and
   ``SameAs`` links to other packages (DerivedFrom points from the derived
   entity to its origin, so a parent is the *destination* of our artifact's
   DerivedFrom, which an Ascendants walk does not return).

Vertices carry lineage ARNs, not the S3 URIs or job ARNs people know, so the
datasets, jobs and linked packages found are described once each.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Iterable
from typing import Any, TypeVar

from adapters.sagemaker.api import SageMakerApi, paging
from adapters.sagemaker.mapping import MODEL_PACKAGE_ARN
from gateway.domain import LineageEdge, LineageNode, ModelVersion, Relation, version_node

T = TypeVar("T")
MAX_VERTICES = 200  # a walk that fans out further is truncated, not followed
DATASET_TYPES = frozenset({"DataSet"})
TRAINING_TYPES = frozenset({"TrainingJob", "SageMakerTrainingJob"})


async def gather_bounded(limit: int, calls: Iterable[Awaitable[T]]) -> list[T]:
    """``asyncio.gather`` with at most ``limit`` calls in flight."""
    semaphore = asyncio.Semaphore(limit)

    async def one(call: Awaitable[T]) -> T:
        async with semaphore:
            return await call

    return list(await asyncio.gather(*(one(c) for c in calls)))


async def _pages(calls: SageMakerApi, operation: str, key: str, **params: Any) -> AsyncIterator[Any]:
    token: str | None = None
    seen = 0
    while True:
        page = await calls.read(operation, optional_operation=True, **params, **paging(token))
        for item in page.get(key, []):
            seen += 1
            if seen > MAX_VERTICES:
                return
            yield item
        token = page.get("NextToken")
        if not token:
            return


def _node_for_source(uri: str, label: str | None) -> LineageNode:
    kind = "model_version" if uri.startswith("arn:") and MODEL_PACKAGE_ARN in uri else "artifact"
    return LineageNode(uri, kind, label)


async def api_edges(
    calls: SageMakerApi, version: ModelVersion, *, max_depth: int, concurrency: int
) -> list[LineageEdge]:
    """Edges from SageMaker's lineage API; raises ``OperationUnsupported`` where the
    endpoint has no lineage API (moto)."""
    package_arn = version.native.get("arn")
    if not package_arn:
        return []
    artifacts = [
        a["ArtifactArn"]
        async for a in _pages(calls, "list_artifacts", "ArtifactSummaries", SourceUri=package_arn)
    ]
    if not artifacts:  # packages created before lineage tracking, or elsewhere
        return []
    me = version_node(version)
    mine = set(artifacts)
    vertices = [
        v
        async for v in _pages(
            calls,
            "query_lineage",
            "Vertices",
            StartArns=artifacts[:1],  # the API takes one start ARN
            Direction="Ascendants",
            IncludeEdges=False,
            MaxDepth=max_depth,
            MaxResults=50,
        )
    ]
    associations = []
    for artifact in artifacts:
        for direction in ("SourceArn", "DestinationArn"):
            associations += [
                a
                async for a in _pages(
                    calls, "list_associations", "AssociationSummaries", **{direction: artifact}
                )
                if a.get("AssociationType") in ("DerivedFrom", "SameAs")
            ]

    async def describe_artifact(arn: str) -> tuple[str, str | None] | None:
        found = await calls.read_or_none("describe_artifact", ArtifactArn=arn)
        uri = ((found or {}).get("Source") or {}).get("SourceUri")
        return (uri, found.get("ArtifactName")) if uri and found else None

    async def describe_job(arn: str) -> tuple[str, str | None] | None:
        found = await calls.read_or_none(
            "describe_trial_component", TrialComponentName=arn.rsplit("/", 1)[-1]
        )
        if not found:
            return None
        source = (found.get("Source") or {}).get("SourceArn") or found.get("TrialComponentArn") or arn
        return source, found.get("DisplayName") or found.get("TrialComponentName")

    datasets = [
        v["Arn"] for v in vertices if v.get("LineageType") == "Artifact" and v.get("Type") in DATASET_TYPES
    ]
    jobs = [
        v["Arn"]
        for v in vertices
        if v.get("LineageType") == "TrialComponent" and v.get("Type") in TRAINING_TYPES
    ]
    linked = [
        (a, a["DestinationArn"] if a["SourceArn"] in mine else a["SourceArn"])
        for a in associations
        if a.get("SourceArn") and a.get("DestinationArn")
    ]
    described = await gather_bounded(
        concurrency,
        [describe_artifact(a) for a in datasets]
        + [describe_job(j) for j in jobs]
        + [describe_artifact(other) for _, other in linked],
    )
    found_datasets = described[: len(datasets)]
    found_jobs = described[len(datasets) : len(datasets) + len(jobs)]
    found_linked = described[len(datasets) + len(jobs) :]

    edges = [
        LineageEdge(me, LineageNode(uri, "dataset", label), Relation.TRAINED_ON)
        for uri, label in filter(None, found_datasets)
    ]
    edges += [
        LineageEdge(me, LineageNode(arn, "run", label), Relation.PRODUCED_BY)
        for arn, label in filter(None, found_jobs)
    ]
    for (association, _), source in zip(linked, found_linked, strict=True):
        if source is None or source[0] == package_arn:
            continue
        other = _node_for_source(*source)
        if association["AssociationType"] == "SameAs":
            edges.append(LineageEdge(me, other, Relation.SAME_AS))
        elif association["SourceArn"] in mine:  # we were derived from the other package
            edges.append(LineageEdge(me, other, Relation.DERIVED_FROM))
        else:  # the other package was derived from us
            edges.append(LineageEdge(other, me, Relation.DERIVED_FROM))
    return edges

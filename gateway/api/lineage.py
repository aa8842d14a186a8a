"""GraphQL for lineage: ``lineage``, ``impact`` (schema.graphql) and ``impactAnalysis``
(the same walk with each version's path). Thin: the logic is ``gateway.lineage``."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from gateway.api.context import Context
from gateway.api.types import DEPTH, DIRECTION, LineageDirection, LineageGraph, ModelVersionType, lineage_of
from gateway.auth.access import redacted_uri
from gateway.domain import ModelVersion
from gateway.lineage.service import MAX_IMPACT_LIMIT, MAX_NODES_LIMIT, check_range
from gateway.lineage.walk import MAX_DEPTH, MAX_IMPACT_DEPTH, ImpactResult

# ``first`` (not ``limit``) so the request cost estimate (gateway.api.limits) counts the versions.
DEFAULT_IMPACT_LIMIT = 1000


@strawberry.type(description="A version downstream of the node impact was asked about, and how.")
class ImpactPath:
    uri: str = strawberry.field(description="The downstream version's URI.")
    path: list[str] = strawberry.field(
        description="URIs from the root to this version; a model root's paths start at its version."
    )
    relations: list[str] = strawberry.field(
        description="The stored relation between each pair of neighbours on the path (e.g. a version "
        "TRAINED_ON the dataset before it, DERIVED_FROM the version before it)."
    )
    depth: int = strawberry.field(description="How many edges from the root it is.")
    _version: strawberry.Private[ModelVersion | None]

    @strawberry.field(description="The version, if the catalogue has it (null for external references).")
    def version(self) -> ModelVersionType | None:
        return ModelVersionType.from_domain(self._version) if self._version else None


@strawberry.type(description="Everything downstream of a dataset, code, model or version.")
class ImpactAnalysis:
    root: str = strawberry.field(description="The node walked from, as the graph spells it (normalised).")
    versions: list[ImpactPath] = strawberry.field(
        description="Every downstream version reached, nearest first."
    )
    truncated: bool = strawberry.field(description="True when depth or first cut the walk short.")
    nodes_visited: int = strawberry.field(description="How many graph nodes the walk visited.")


async def _impact(info: Info[Context, None], uri: str, depth: int | None, first: int | None) -> ImpactResult:
    uri = await info.context.concrete(uri)  # mg://r/m@production: the version holding it now
    first = check_range(DEFAULT_IMPACT_LIMIT if first is None else first, 1, MAX_IMPACT_LIMIT, "first")
    return await info.context.gateway.lineage.impact(
        uri, depth=MAX_DEPTH if depth is None else depth, limit=first, access=info.context.access
    )


async def _versions(info: Info[Context, None], result: ImpactResult) -> dict[str, ModelVersion]:
    """The hits the caller may see, read through the request's (visibility-aware) loader."""
    uris = [h.node.uri for h in result.hits]
    loaded = await info.context.versions.load_many(uris)
    found = [v for v in loaded if v is not None]
    found = await info.context.complete(found)
    return {v.uri: v for v in found}


IMPACT_ROOT = strawberry.argument(
    description="A dataset, model or version (any URI spelling, or a reference: mg://<registry>/<model>@production)."
)
IMPACT_DEPTH = strawberry.argument(
    description=f"How many edges to walk at most (1 to {MAX_IMPACT_DEPTH}; default {MAX_DEPTH})."
)
IMPACT_FIRST = strawberry.argument(
    description=f"How many versions at most (1 to {MAX_IMPACT_LIMIT}; default {DEFAULT_IMPACT_LIMIT})."
)


@strawberry.type
class LineageQuery:
    @strawberry.field(
        description="The lineage graph around any node: a version or model (mg:// URI or a registry's "
        "own reference), a dataset (any spelling of its URI), code, a run or an endpoint. "
        "registryLineage merges what the registries' lineage APIs know about the versions visited."
    )
    async def lineage(
        self,
        info: Info[Context, None],
        uri: Annotated[
            str,
            strawberry.argument(
                description="The node to start from (any URI spelling, or a reference: "
                "mg://<registry>/<model>@production)."
            ),
        ],
        direction: Annotated[LineageDirection | None, DIRECTION] = LineageDirection.BOTH,
        depth: Annotated[int | None, DEPTH] = 3,
        max_nodes: Annotated[
            int | None,
            strawberry.argument(
                description=f"Stop after this many nodes (1 to {MAX_NODES_LIMIT}; truncated is then true)."
            ),
        ] = 500,
        registry_lineage: Annotated[
            bool | None,
            strawberry.argument(
                description="Also ask the registries' lineage APIs (false: the stored graph only)."
            ),
        ] = True,
    ) -> LineageGraph:
        root = await info.context.concrete(uri)  # mg://r/m@production: the version holding it now
        return await lineage_of(
            info, root, direction, depth, max_nodes=max_nodes, registry_lineage=registry_lineage
        )

    @strawberry.field(
        description="Every version downstream of a dataset or a model (or version), transitively through "
        "training, fine-tuning (DERIVED_FROM) and copies (SAME_AS); nearest first."
    )
    async def impact(
        self,
        info: Info[Context, None],
        uri: Annotated[str, IMPACT_ROOT],
        depth: Annotated[int | None, IMPACT_DEPTH] = MAX_DEPTH,
        first: Annotated[int | None, IMPACT_FIRST] = DEFAULT_IMPACT_LIMIT,
    ) -> list[ModelVersionType]:
        result = await _impact(info, uri, depth, first)
        versions = await _versions(info, result)
        return [
            ModelVersionType.from_domain(versions[h.node.uri]) for h in result.hits if h.node.uri in versions
        ]

    @strawberry.field(
        description="impact, with the path that reaches each version and whether it was cut short."
    )
    async def impact_analysis(
        self,
        info: Info[Context, None],
        uri: Annotated[str, IMPACT_ROOT],
        depth: Annotated[int | None, IMPACT_DEPTH] = MAX_DEPTH,
        first: Annotated[int | None, IMPACT_FIRST] = DEFAULT_IMPACT_LIMIT,
    ) -> ImpactAnalysis:
        result = await _impact(info, uri, depth, first)
        versions = await _versions(info, result)
        gateway = info.context.gateway
        on_paths = {u for h in result.hits for u in h.path}
        hidden = await info.context.access.hidden_uris(gateway.index, on_paths)
        paths = [
            ImpactPath(
                uri=h.node.uri,
                path=[redacted_uri(u) if u in hidden else u for u in h.path],
                relations=list(h.relations),
                depth=h.depth,
                _version=versions.get(h.node.uri),
            )
            for h in result.hits
            if h.node.uri not in hidden  # hidden versions on the way become placeholders
        ]
        return ImpactAnalysis(
            root=result.root, versions=paths, truncated=result.truncated, nodes_visited=result.nodes_visited
        )

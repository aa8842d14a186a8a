"""GraphQL views of lineage: the graph around a node, and ``lineage_of``,
through which every lineage answer goes."""

import enum

import strawberry
from strawberry.types import Info

from gateway.api.context import Context
from gateway.api.types.common import (
    describe_values,
)
from gateway.domain import ModelVersion
from gateway.lineage.graph import Edge, Graph
from gateway.lineage.walk import MAX_DEPTH, Direction


@strawberry.enum(description="Which way to follow lineage edges from a node.")
class LineageDirection(enum.Enum):
    UPSTREAM = "UPSTREAM"
    DOWNSTREAM = "DOWNSTREAM"
    BOTH = "BOTH"


describe_values(
    LineageDirection,
    {
        "UPSTREAM": "Towards what the node came from: datasets, code, runs, parent versions.",
        "DOWNSTREAM": "Towards what came from the node: derived versions, deployments.",
        "BOTH": "Both ways.",
    },
)


DIRECTION = strawberry.argument(description="Which way to walk from the node.")
DEPTH = strawberry.argument(
    description=f"How many edges to walk from the node (0 to {MAX_DEPTH}; 0 is the node alone)."
)


@strawberry.type(description="A node of the lineage graph: a version, model, dataset, code, run or endpoint.")
class LineageNode:
    uri: str = strawberry.field(
        description="The node's identity: an mg:// URI for models and versions, else the dataset's, "
        "code's (git+...), run's or endpoint's own URI (docs/uris.md)."
    )
    kind: str = strawberry.field(description="model_version | model | dataset | run | code | deployment")
    label: str | None = strawberry.field(description="A readable name for display; null when none is known.")
    registry: str | None = strawberry.field(
        description="The registry the node belongs to; null for nodes outside every registry "
        "(datasets, code)."
    )


@strawberry.type(
    name="LineageEdge",
    description="A directed lineage relation: source RELATION target (a version TRAINED_ON a dataset).",
)
class LineageEdgeType:
    source: str = strawberry.field(description="The URI of the node the relation is stated of.")
    target: str = strawberry.field(description="The URI of the node it points to.")
    relation: str = strawberry.field(
        description="TRAINED_ON | VALIDATED_ON | PRODUCED_BY | DERIVED_FROM | DEPLOYED_TO | SAME_AS"
    )
    evidence: str | None = strawberry.field(
        default=None,
        description="How the edge is known: record (the version's own fields), tag:<key> (a declared "
        "reference), registry (the registry's lineage API) or artifact (same artifact URI or digest).",
    )


@strawberry.type(description="The lineage around a node, as far as depth (and the node limit) reach.")
class LineageGraph:
    nodes: list[LineageNode] = strawberry.field(description="Every node reached, the root included.")
    edges: list[LineageEdgeType] = strawberry.field(description="Every relation between the nodes reached.")
    truncated: bool = strawberry.field(
        default=False, description="True when the node limit cut the walk short."
    )

    @staticmethod
    def from_graph(graph: Graph) -> "LineageGraph":
        return LineageGraph(
            nodes=[
                LineageNode(uri=n.uri, kind=n.kind, label=n.label, registry=n.registry)
                for n in graph.nodes.values()
            ],
            edges=[_edge(e) for e in graph.edges.values()],
            truncated=graph.truncated,
        )


def _edge(e: Edge) -> LineageEdgeType:
    return LineageEdgeType(
        source=e.source.uri, target=e.target.uri, relation=e.relation.value, evidence=e.evidence
    )


async def lineage_of(
    info: Info[Context, None],
    root: ModelVersion | str,
    direction: "LineageDirection | None",
    depth: int | None,
    *,
    max_nodes: int | None = None,
    registry_lineage: bool | None = True,
) -> LineageGraph:
    """The lineage graph around a version (its record) or any node URI, redacted
    for the caller (``gateway.lineage.visibility``); registry failures are
    reported next to the data. Every lineage answer must come through here."""
    version = root if isinstance(root, ModelVersion) else None
    graph = await info.context.gateway.lineage.visible_graph(
        version.uri if version else str(root),
        info.context.access,
        Direction((direction or LineageDirection.BOTH).value),
        3 if depth is None else depth,
        max_nodes=500 if max_nodes is None else max_nodes,
        version=version,
        registry_lineage=registry_lineage is not False,
        report=info.context.report,
    )
    return LineageGraph.from_graph(graph)

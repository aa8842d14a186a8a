"""The lineage graph's vocabulary: the edges a version record implies (used by
adapters for their own ``lineage()``), stored edges with their evidence, and the
``Graph`` a walk returns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from gateway.domain import URI_SCHEME, LineageEdge, LineageNode, ModelVersion, Relation

MAX_NODES = 500

# Relations whose target is an input of the source (the source was made from it):
# following them forward walks upstream. DEPLOYED_TO points the other way (the
# endpoint uses the version), and SAME_AS is symmetric.
INPUT_RELATIONS = frozenset(
    {Relation.TRAINED_ON, Relation.VALIDATED_ON, Relation.PRODUCED_BY, Relation.DERIVED_FROM}
)
OUTPUT_RELATIONS = frozenset({Relation.DEPLOYED_TO})


def version_node(version: ModelVersion) -> LineageNode:
    return LineageNode(
        version.uri, "model_version", f"{version.model_name} v{version.version}", version.registry_id
    )


def record_edges(version: ModelVersion) -> list[LineageEdge]:
    """Edges that follow from the version record alone, verbatim (adapters use this
    for ``lineage()``; the gateway's harvest normalises and resolves them)."""
    me = version_node(version)
    edges = []
    for ds in version.training_data:
        relation = Relation.VALIDATED_ON if ds.role == "validation" else Relation.TRAINED_ON
        edges.append(LineageEdge(me, LineageNode(ds.uri, "dataset", ds.name), relation))
    if version.parent:
        edges.append(LineageEdge(me, LineageNode(version.parent, "model_version"), Relation.DERIVED_FROM))
    if version.training_code and str(version.training_code):
        code = str(version.training_code)
        edges.append(LineageEdge(me, LineageNode(code, "code", code), Relation.PRODUCED_BY))
    for d in version.deployments:
        edges.append(LineageEdge(me, LineageNode(d.endpoint, "deployment", d.endpoint), Relation.DEPLOYED_TO))
    return edges


def node_for_uri(uri: str, registry: str | None = None) -> LineageNode:
    """A node known only by its URI: ``mg://`` URIs describe themselves."""
    if uri.startswith(URI_SCHEME):
        parts = uri[len(URI_SCHEME) :].split("/")
        if len(parts) == 3:
            return LineageNode(uri, "model_version", f"{parts[1]} v{parts[2]}", parts[0])
        if len(parts) == 2:
            return LineageNode(uri, "model", parts[1], parts[0])
    return LineageNode(uri, "unknown", None, registry)


@dataclass(frozen=True, slots=True)
class Edge:
    """A lineage edge as stored: the edge, how it is known, and which version's
    record (or registry lineage) it came from."""

    source: LineageNode
    target: LineageNode
    relation: Relation
    evidence: str = "record"  # record | tag:<key> | registry | artifact
    origin: str | None = None
    # URIs of this edge's nodes resolved from case-folded references (SageMaker ARNs):
    # their model names still need the catalogue's spelling. Not stored.
    folded: frozenset[str] = frozenset()

    @property
    def key(self) -> tuple[str, str, Relation]:
        return (self.source.uri, self.target.uri, self.relation)


def _better(known: LineageNode, new: LineageNode) -> LineageNode:
    """Keep the most informative description of a node seen twice."""
    if known.kind == "unknown" and new.kind != "unknown":
        return new
    if (known.label is None and new.label is not None) or (known.registry is None and new.registry):
        return LineageNode(
            known.uri,
            known.kind if known.kind != "unknown" else new.kind,
            known.label or new.label,
            known.registry or new.registry,
        )
    return known


@dataclass
class Graph:
    """Nodes by URI and edges by (source, target, relation); ``truncated`` when a
    node limit cut the walk short."""

    nodes: dict[str, LineageNode] = field(default_factory=dict)
    edges: dict[tuple[str, str, Relation], Edge] = field(default_factory=dict)
    truncated: bool = False

    def add_node(self, node: LineageNode) -> None:
        known = self.nodes.get(node.uri)
        self.nodes[node.uri] = node if known is None else _better(known, node)

    def add_edge(self, edge: Edge) -> None:
        self.add_node(edge.source)
        self.add_node(edge.target)
        self.edges.setdefault(edge.key, edge)

    def add(self, edges: Iterable[Edge]) -> None:
        for e in edges:
            self.add_edge(e)

"""The lineage graph's vocabulary: stored edges with their evidence, and the
``Graph`` a walk returns. The edges a version record implies are a domain rule
(``gateway.domain.record_edges``), shared with the adapters."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from gateway.domain import (  # noqa: F401  (record_edges/version_node re-exported for the harvest)
    URI_SCHEME,
    LineageNode,
    Relation,
    record_edges,
    version_node,
)

MAX_NODES = 500

# Relations whose target is an input of the source (the source was made from it):
# following them forward walks upstream. DEPLOYED_TO points the other way (the
# endpoint uses the version), and SAME_AS is symmetric.
INPUT_RELATIONS = frozenset(
    {Relation.TRAINED_ON, Relation.VALIDATED_ON, Relation.PRODUCED_BY, Relation.DERIVED_FROM}
)
OUTPUT_RELATIONS = frozenset({Relation.DEPLOYED_TO})


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

"""Lineage edges a version's own record implies (datasets, parent, code,
deployments), and bounded graph walks over them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from gateway.domain import LineageEdge, LineageNode, ModelVersion, Relation

MAX_NODES = 500


def version_node(version: ModelVersion) -> LineageNode:
    return LineageNode(
        version.uri, "model_version", f"{version.model_name} v{version.version}", version.registry_id
    )


def record_edges(version: ModelVersion) -> list[LineageEdge]:
    """Edges that follow from the version record alone."""
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


@dataclass
class Graph:
    nodes: dict[str, LineageNode] = field(default_factory=dict)
    edges: list[LineageEdge] = field(default_factory=list)
    truncated: bool = False

    def add(self, edges: Iterable[LineageEdge]) -> None:
        seen = {(e.source.uri, e.target.uri, e.relation) for e in self.edges}
        for e in edges:
            for node in (e.source, e.target):
                known = self.nodes.get(node.uri)
                # Keep the most informative description of a node seen twice.
                if known is None or (known.label is None and node.label is not None):
                    self.nodes[node.uri] = node
            if (e.source.uri, e.target.uri, e.relation) not in seen:
                seen.add((e.source.uri, e.target.uri, e.relation))
                self.edges.append(e)


async def walk_upstream(
    start: ModelVersion,
    depth: int,
    load_version: Callable[[str], Awaitable[ModelVersion | None]],
    *,
    max_nodes: int = MAX_NODES,
) -> Graph:
    """Follow record edges upstream from ``start`` through parents, cycle-safe and bounded."""
    graph = Graph()
    graph.nodes[start.uri] = version_node(start)
    frontier = [start]
    visited = {start.uri}
    for _ in range(max(depth, 0)):
        next_frontier = []
        for version in frontier:
            edges = record_edges(version)
            graph.add(edges)
            for e in edges:
                if e.relation is Relation.DERIVED_FROM and e.target.uri not in visited:
                    visited.add(e.target.uri)
                    parent = await load_version(e.target.uri)
                    if parent is not None:
                        graph.nodes[parent.uri] = version_node(parent)
                        next_frontier.append(parent)
            if len(graph.nodes) >= max_nodes:
                graph.truncated = True
                return graph
        frontier = next_frontier
    return graph

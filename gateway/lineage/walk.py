"""Bounded, cycle-safe walks over the stored lineage graph.

A walk is a breadth-first search with one SQL statement per hop for the whole
frontier (``store.hop``). Which edges a hop follows depends on the direction:

* UPSTREAM (what a node was made from): forward along TRAINED_ON, VALIDATED_ON,
  PRODUCED_BY and DERIVED_FROM; backward along DEPLOYED_TO (the version behind
  an endpoint).
* DOWNSTREAM (what uses a node): the reverse of each.
* BOTH: the upstream walk and the downstream walk from the same root, each to
  ``depth`` (not an undirected walk, which would wander from a version through
  its dataset to every sibling trained on it).

SAME_AS (stored, or two registries holding the same artifact URI or digest) is
followed both ways in every direction: a copy of a model shares its lineage.

Every node is visited once (cycles end there); ``depth`` bounds the hops and
``max_nodes`` the graph, which is then marked ``truncated``.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from gateway.domain import URI_SCHEME, LineageNode, Relation
from gateway.lineage import store
from gateway.lineage.graph import INPUT_RELATIONS, MAX_NODES, OUTPUT_RELATIONS, Edge, Graph, node_for_uri
from gateway.store.database import Database

MAX_DEPTH = 10
MAX_IMPACT_DEPTH = 50
SAME = frozenset({Relation.SAME_AS})
# Registry lineage for the frontier's versions: URIs in, extra edges out.
ExtraEdges = Callable[[Sequence[str]], Awaitable[list[Edge]]]


class Direction(enum.StrEnum):
    UPSTREAM = "UPSTREAM"
    DOWNSTREAM = "DOWNSTREAM"
    BOTH = "BOTH"


# (relations followed from source to target, relations followed from target to source)
FOLLOW: dict[Direction, tuple[frozenset[Relation], frozenset[Relation]]] = {
    Direction.UPSTREAM: (INPUT_RELATIONS | SAME, OUTPUT_RELATIONS | SAME),
    Direction.DOWNSTREAM: (OUTPUT_RELATIONS | SAME, INPUT_RELATIONS | SAME),
}
# Impact: everything made from a node, through fine-tuning and copies; not endpoints.
IMPACT_FOLLOW = (SAME, INPUT_RELATIONS | SAME)


def is_version_uri(uri: str) -> bool:
    return uri.startswith(URI_SCHEME) and uri.count("/") == 4


def _far_ends(
    edge: Edge, frontier: set[str], forward: frozenset[Relation], backward: frozenset[Relation]
) -> list[str]:
    """The nodes this edge leads to from the frontier under the direction's rules."""
    ends = []
    if edge.source.uri in frontier and edge.relation in forward:
        ends.append(edge.target.uri)
    if edge.target.uri in frontier and edge.relation in backward:
        ends.append(edge.source.uri)
    return ends


async def _walk_one(
    db: Database,
    graph: Graph,
    roots: Sequence[str],
    direction: Direction,
    depth: int,
    max_nodes: int,
    extra: ExtraEdges | None,
) -> None:
    forward, backward = FOLLOW[direction]
    visited = set(roots)
    frontier = list(roots)
    for _ in range(depth):
        if not frontier:
            return
        async with db.read() as conn:
            edges = await store.hop(conn, frontier, forward, backward)
        if extra is not None:
            edges += await extra([u for u in frontier if is_version_uri(u)])
        frontier_set = set(frontier)
        next_frontier: list[str] = []
        # Sorted, so a truncated graph is the same on every run and every database.
        for edge in sorted(edges, key=lambda e: (e.source.uri, e.target.uri, e.relation.value, e.evidence)):
            ends = _far_ends(edge, frontier_set, forward, backward)
            if not ends:
                continue
            new = [u for u in ends if u not in graph.nodes]
            if len(graph.nodes) + len(new) > max_nodes:
                graph.truncated = True
                continue
            graph.add_edge(edge)
            for uri in ends:
                if uri not in visited:
                    visited.add(uri)
                    next_frontier.append(uri)
        frontier = next_frontier


async def walk(
    db: Database,
    root: LineageNode,
    direction: Direction,
    depth: int,
    *,
    max_nodes: int = MAX_NODES,
    seed: Iterable[Edge] = (),
    extra: ExtraEdges | None = None,
) -> Graph:
    """The lineage graph around ``root``. ``seed`` adds edges known without the
    store (a version read live, not indexed yet); ``extra`` supplies registry
    lineage for each hop's versions."""
    graph = Graph()
    graph.add_node(root)
    seeded = list(seed)
    seeded_extra = _with_seed(extra, seeded) if seeded else extra
    directions = [Direction.UPSTREAM, Direction.DOWNSTREAM] if direction is Direction.BOTH else [direction]
    for d in directions:
        await _walk_one(db, graph, [root.uri], d, depth, max_nodes, seeded_extra)
    return graph


def _with_seed(extra: ExtraEdges | None, seed: list[Edge]) -> ExtraEdges:
    async def edges(uris: Sequence[str]) -> list[Edge]:
        wanted = set(uris)
        found = [e for e in seed if e.source.uri in wanted or e.target.uri in wanted]
        return found + (await extra(uris) if extra is not None else [])

    return edges


# --- impact ----------------------------------------------------------------------


@dataclass(frozen=True)
class ImpactHit:
    """A version downstream of the root, with the shortest path that reaches it."""

    node: LineageNode
    path: tuple[str, ...]  # root ... node
    relations: tuple[str, ...]  # the relation of each step, len(path) - 1

    @property
    def depth(self) -> int:
        return len(self.path) - 1


@dataclass
class ImpactResult:
    root: str
    hits: list[ImpactHit] = field(default_factory=list)
    truncated: bool = False
    nodes_visited: int = 0
    # Every node visited, with the (node, relation) it was reached from: the walk's tree.
    visited: dict[str, tuple[str, str] | None] = field(default_factory=dict)


async def impact(
    db: Database,
    root: str,
    *,
    starts: Sequence[str] = (),
    depth: int = MAX_DEPTH,
    limit: int = 1000,
    max_nodes: int = 100_000,
) -> ImpactResult:
    """Every model version downstream of ``root`` (a dataset, code, run, a model or
    a version): versions trained or validated on it, fine-tuned from it, or the
    same artifact in another registry, transitively; each with its path.
    ``starts`` are nodes the walk begins from besides the root (a model's
    versions). Stops after ``limit`` versions or ``max_nodes`` visited nodes
    (``truncated``)."""
    forward, backward = IMPACT_FOLLOW
    result = ImpactResult(root)
    via: dict[str, tuple[str, str] | None] = {root: None}
    for start in starts:  # a model's versions: paths begin at the version
        via.setdefault(start, None)
    nodes: dict[str, LineageNode] = {}
    frontier = list(via)
    for _ in range(depth):
        if not frontier or result.truncated:
            break
        async with db.read() as conn:
            edges = await store.hop(conn, frontier, forward, backward)
        frontier_set = set(frontier)
        next_frontier: list[str] = []
        for edge in sorted(edges, key=lambda e: (e.source.uri, e.target.uri, e.relation.value)):
            for end in _far_ends(edge, frontier_set, forward, backward):
                if end in via:
                    continue
                if len(via) >= max_nodes:
                    result.truncated = True
                    break
                came_from = edge.target.uri if end == edge.source.uri else edge.source.uri
                via[end] = (came_from, edge.relation.value)
                nodes[end] = edge.source if end == edge.source.uri else edge.target
                next_frontier.append(end)
                if nodes[end].kind == "model_version":
                    result.hits.append(_hit(nodes[end], via))
                    if len(result.hits) >= limit:
                        result.truncated = True
                        break
            if result.truncated:
                break
        frontier = next_frontier
    if frontier and not result.truncated:
        # Stopped by depth with nodes left to expand: more may lie further down.
        async with db.read() as conn:
            more = await store.hop(conn, frontier, forward, backward)
        result.truncated = any(
            end not in via for e in more for end in _far_ends(e, set(frontier), forward, backward)
        )
    result.nodes_visited = len(via)
    result.visited = via
    return result


def _hit(node: LineageNode, via: dict[str, tuple[str, str] | None]) -> ImpactHit:
    path, relations = [node.uri], []
    step = via[node.uri]
    while step is not None:
        previous, relation = step
        path.append(previous)
        relations.append(relation)
        step = via[previous]
    path.reverse()
    relations.reverse()
    if node.label is None:
        node = node_for_uri(node.uri) if node.uri.startswith(URI_SCHEME) else node
    return ImpactHit(node, tuple(path), tuple(relations))

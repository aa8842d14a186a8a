"""What of a lineage answer a caller may see, for every lineage answer (GraphQL
``lineage``, ``impactAnalysis``, the OpenLineage export). Who may see a model
or version is ``gateway.auth.access``'s rule; this module applies it to a graph.

A hidden version's record names its datasets, code, runs and endpoints, so
hiding only its ``mg://`` node would still hand them out. Concealed are:

- the models and versions the caller may not see, and
- every other node (dataset, code, run, endpoint) that the answer reaches only
  through one of them: a dataset the caller's own or any visible version also
  uses stays in clear, one only a hidden version uses does not.

A concealed node becomes a placeholder (``redacted:<keyed hash>``, kind kept,
label and registry null): the edges stay, so the graph's shape is honest, but
nothing about the node leaks, not even its URI. A visible catalogue entry stays
in clear wherever it is (the caller can read it anyway)."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable

from gateway.auth.access import redacted_uri
from gateway.domain import URI_SCHEME, LineageNode
from gateway.lineage.graph import Graph


def concealed(
    root: str, nodes: Iterable[str], links: Iterable[tuple[str, str]], hidden: set[str]
) -> set[str]:
    """The nodes to redact: ``hidden`` catalogue entries, and the non-catalogue
    nodes among ``nodes`` that no path over ``links`` (either way) joins to the
    root or to a visible catalogue entry without passing a hidden node."""
    if not hidden:
        return set()
    everything = set(nodes) | {root}
    neighbours: defaultdict[str, set[str]] = defaultdict(set)
    for a, b in links:
        everything |= {a, b}
        neighbours[a].add(b)
        neighbours[b].add(a)
    starts = [u for u in everything if u not in hidden and (u == root or u.startswith(URI_SCHEME))]
    reached = set(starts)
    frontier = list(starts)
    while frontier:
        nxt = []
        for u in frontier:
            for v in neighbours[u]:
                if v not in reached and v not in hidden:
                    reached.add(v)
                    nxt.append(v)
        frontier = nxt
    return {u for u in everything if u in hidden or u not in reached}


def redact(graph: Graph, secret: set[str]) -> Graph:
    """``graph`` with every node in ``secret`` replaced by its placeholder."""
    if not secret:
        return graph

    def node(n: LineageNode) -> LineageNode:
        return LineageNode(redacted_uri(n.uri), n.kind, None, None) if n.uri in secret else n

    out = Graph(truncated=graph.truncated)
    for n in graph.nodes.values():
        out.add_node(node(n))
    for e in graph.edges.values():
        out.add_edge(dataclasses.replace(e, source=node(e.source), target=node(e.target), folded=frozenset()))
    return out

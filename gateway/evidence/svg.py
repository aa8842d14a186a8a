"""The lineage graph as inline SVG: no script, no external reference, so it
renders the same in a browser and in the PDF. Three columns: what the version
was made from (datasets, code, parent versions) on the left, the version in the
middle, everything else (deployments, derived versions) on the right."""

from __future__ import annotations

from html import escape

from gateway.domain import Relation
from gateway.lineage.graph import Graph

INPUTS = frozenset({Relation.TRAINED_ON, Relation.VALIDATED_ON, Relation.PRODUCED_BY, Relation.DERIVED_FROM})
BOX_W, BOX_H, GAP, COL = 210, 40, 14, 280
COLOURS = {"dataset": "#e8f1fb", "code": "#eef7e8", "model_version": "#fdf1e3", "deployment": "#f3e8fb"}


def _short(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def lineage_svg(graph: Graph, root: str) -> str:
    inputs: set[str] = set()
    frontier = {root}
    while frontier:  # everything reachable from the root along input relations
        nxt = {
            e.target.uri
            for e in graph.edges.values()
            if e.source.uri in frontier and e.relation in INPUTS and e.target.uri not in inputs
        }
        inputs |= nxt
        frontier = nxt
    inputs.discard(root)
    left = sorted(inputs)
    right = sorted(u for u in graph.nodes if u != root and u not in inputs)
    rows = max(len(left), len(right), 1)
    height = rows * (BOX_H + GAP) + GAP
    pos: dict[str, tuple[int, int]] = {root: (COL, (height - BOX_H) // 2)}
    for col, uris in ((0, left), (2 * COL, right)):
        for i, uri in enumerate(uris):
            pos[uri] = (col, GAP + i * (BOX_H + GAP))
    width = 2 * COL + BOX_W
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" role="img" '
        f'aria-label="Lineage of {escape(root)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}">'
    ]
    for e in graph.edges.values():
        if e.source.uri not in pos or e.target.uri not in pos:
            continue
        (x1, y1), (x2, y2) = pos[e.source.uri], pos[e.target.uri]
        a = (x1 + (0 if x2 < x1 else BOX_W), y1 + BOX_H // 2)
        b = (x2 + (BOX_W if x2 < x1 else 0), y2 + BOX_H // 2)
        parts.append(
            f'<line x1="{a[0]}" y1="{a[1]}" x2="{b[0]}" y2="{b[1]}" stroke="#667" stroke-width="1.2"/>'
            f'<text x="{(a[0] + b[0]) // 2}" y="{(a[1] + b[1]) // 2 - 3}" font-size="8" fill="#445" '
            f'text-anchor="middle">{escape(e.relation.value)}</text>'
        )
    for uri, (x, y) in pos.items():
        node = graph.nodes.get(uri)
        kind = node.kind if node else "model_version"
        label = (node.label if node and node.label else None) or uri
        stroke = ' stroke-width="2.5"' if uri == root else ""
        parts.append(
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="5" '
            f'fill="{COLOURS.get(kind, "#f4f4f4")}" stroke="#334"{stroke}/>'
            f'<text x="{x + 8}" y="{y + 16}" font-size="10" font-weight="bold">{escape(_short(label))}</text>'
            f'<text x="{x + 8}" y="{y + 30}" font-size="8" fill="#556">'
            f"{escape(kind)}: {escape(_short(uri, 38))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)

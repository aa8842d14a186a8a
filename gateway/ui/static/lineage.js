// The lineage graph as inline SVG: a layered layout, left to right, in the
// direction things flow: inputs (datasets, code, runs) → versions (parents first) → deployments.
import { h, svg } from "./dom.js";

const NODE = { width: 240, height: 46, columnGap: 110, rowGap: 14, pad: 12 };

/** Versions derived from another version in the graph sit one column right of it. */
function derivationDepth(graph) {
  const parentOf = new Map(graph.edges.filter((e) => e.relation === "DERIVED_FROM").map((e) => [e.source, e.target]));
  const depth = new Map();
  const depthOf = (uri, seen = new Set()) => {
    if (depth.has(uri)) return depth.get(uri);
    const parent = parentOf.get(uri);
    const d = parent && !seen.has(parent) ? depthOf(parent, seen.add(uri)) + 1 : 0;
    depth.set(uri, d);
    return d;
  };
  graph.nodes.filter((n) => n.kind === "model_version").forEach((n) => depthOf(n.uri));
  return depth;
}

/**
 * Every input (dataset, code, run, a logged model...) sits in the first column
 * and versions follow it, so an edge from an input to its version never passes
 * behind another box (a run column between them made dataset edges look as if
 * they went through the run).
 */
function columnsOf(graph) {
  const depth = derivationDepth(graph);
  const lastVersion = 1 + Math.max(0, ...depth.values());
  const column = (node) => {
    if (node.kind === "model_version") return 1 + depth.get(node.uri);
    if (node.kind === "deployment") return lastVersion + 1;
    return 0;
  };
  const columns = [];
  for (const node of graph.nodes) (columns[column(node)] ??= []).push(node);
  return columns.filter(Boolean);
}

/**
 * Place each node. Inputs are stacked grouped by the version they feed (leftmost
 * version first); every later node sits level with the mean of its neighbours
 * further left, pushed down where it would overlap, so edges rarely cross a node.
 */
export function layout(graph) {
  const columns = columnsOf(graph);
  const columnOf = new Map(columns.flatMap((nodes, c) => nodes.map((n) => [n.uri, c])));
  const indexOf = new Map(graph.nodes.map((n, i) => [n.uri, i]));
  const neighbours = new Map(graph.nodes.map((n) => [n.uri, []]));
  for (const e of graph.edges) {
    neighbours.get(e.source)?.push(e.target);
    neighbours.get(e.target)?.push(e.source);
  }
  const pitch = NODE.height + NODE.rowGap;
  const y = new Map();
  columns.forEach((nodes, col) => {
    const earlier = (n) => neighbours.get(n.uri).filter((u) => columnOf.get(u) < col);
    const wanted = (n) => {
      const placed = earlier(n);
      return placed.length ? placed.reduce((sum, u) => sum + y.get(u), 0) / placed.length : null;
    };
    // First column: group by the (leftmost) node each feeds; later ones: by wanted height.
    const feeds = (n) => Math.min(...neighbours.get(n.uri).map((u) => columnOf.get(u) * 1e4 + indexOf.get(u)));
    const key = col === 0 ? feeds : (n) => wanted(n) ?? Infinity;
    let next = 0;
    for (const n of [...nodes].sort((a, b) => key(a) - key(b))) {
      const top = Math.max(next, wanted(n) ?? next);
      y.set(n.uri, top);
      next = top + pitch;
    }
  });
  const at = (n) => ({ x: NODE.pad + columnOf.get(n.uri) * (NODE.width + NODE.columnGap), y: NODE.pad + y.get(n.uri) });
  const position = new Map(graph.nodes.map((n) => [n.uri, at(n)]));
  return {
    position,
    width: 2 * NODE.pad + columns.length * NODE.width + (columns.length - 1) * NODE.columnGap,
    height: 2 * NODE.pad + Math.max(...y.values()) + NODE.height,
  };
}

function edgePath(a, b) {
  const [left, right] = a.x <= b.x ? [a, b] : [b, a];
  const x1 = left.x + NODE.width;
  const y1 = left.y + NODE.height / 2;
  const x2 = right.x;
  const y2 = right.y + NODE.height / 2;
  const bend = Math.max(30, (x2 - x1) / 2);
  return `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`;
}

/**
 * Shorten from the middle: two code references that share a long repository
 * prefix ("git.example.com/fraud/train@9f2c1e7" and "...@41aa0b2") must not
 * clip to the same text, and the end of a URI is usually what tells them apart.
 */
export function clip(text, max = 32) {
  if (text.length <= max) return text;
  const tail = Math.ceil((max - 1) / 2);
  return `${text.slice(0, max - 1 - tail)}…${text.slice(-tail)}`;
}

const KIND_LABEL = { model_version: "model version" };
const kindLabel = (kind) => KIND_LABEL[kind] ?? kind;

// What each relation means, read along the arrow (source → target).
export const RELATIONS = {
  TRAINED_ON: "trained on",
  VALIDATED_ON: "validated on",
  PRODUCED_BY: "produced by",
  DERIVED_FROM: "fine-tuned from",
  DEPLOYED_TO: "deployed to",
  SAME_AS: "same artifact as",
};
const relationText = (relation) => RELATIONS[relation] ?? relation.replaceAll("_", " ").toLowerCase();

function nodeView(node, at, current, onSelect) {
  const label = node.label ?? node.uri;
  const kind = kindLabel(node.kind);
  // The registry that owns the node, on the node itself: lineage crosses registries.
  const heading = node.registry ? `${kind} · ${node.registry}` : kind;
  const full = [label, node.uri !== label ? node.uri : null, node.registry ? `registry ${node.registry}` : null]
    .filter(Boolean)
    .join("\n");
  return svg(
    "g",
    {
      class: `node kind-${node.kind}${node.uri === current ? " current" : ""}`,
      transform: `translate(${at.x},${at.y})`,
      tabindex: 0,
      role: "button",
      "aria-label": `${kind}: ${label}${node.registry ? ` (registry ${node.registry})` : ""}`,
      "data-uri": node.uri,
      "data-kind": node.kind,
      "data-registry": node.registry ?? null,
      onclick: () => onSelect(node),
      onkeydown: (event) => (event.key === "Enter" || event.key === " ") && onSelect(node),
    },
    svg("title", {}, full),
    svg("rect", { width: NODE.width, height: NODE.height, rx: 8 }),
    svg("text", { x: 12, y: 17, class: "kind" }, clip(heading.toUpperCase(), 36)),
    svg("text", { x: 12, y: 35, class: "label" }, clip(label)),
  );
}

function edgeView(edge, from, to) {
  const [left, right] = from.x <= to.x ? [from, to] : [to, from];
  const x = (left.x + NODE.width + right.x) / 2;
  const y = (left.y + right.y + NODE.height) / 2;
  const text = relationText(edge.relation);
  return svg(
    "g",
    { class: `edge-group rel-${edge.relation.toLowerCase()}`, "data-relation": edge.relation },
    svg(
      "path",
      { class: `edge rel-${edge.relation.toLowerCase()}`, d: edgePath(from, to) },
      svg("title", {}, `${edge.source} ${text} ${edge.target}`),
    ),
    svg("text", { class: "edge-label", x, y: y - 4, "text-anchor": "middle" }, text),
  );
}

/** What the boxes and lines mean. */
function legend(graph) {
  const kinds = [...new Set(graph.nodes.map((n) => n.kind))];
  const relations = [...new Set(graph.edges.map((e) => e.relation))];
  return h(
    "div",
    { class: "lineage-legend", "aria-label": "Legend" },
    kinds.map((k) => h("span", { class: `legend-node kind-${k}` }, kindLabel(k))),
    relations.map((r) => h("span", { class: `legend-edge rel-${r.toLowerCase()}` }, relationText(r))),
  );
}

/** The graph as an SVG element; onSelect(node) runs when a node is clicked. */
export function lineageGraph(graph, current, onSelect) {
  const { position, width, height } = layout(graph);
  const edges = graph.edges
    .filter((e) => position.has(e.source) && position.has(e.target))
    .map((e) => edgeView(e, position.get(e.source), position.get(e.target)));
  const nodes = graph.nodes.map((n) => nodeView(n, position.get(n.uri), current, onSelect));
  return h(
    "div",
    { class: "lineage-view" },
    legend(graph),
    h(
      "div",
      { class: "lineage-scroll" },
      svg(
        "svg",
        { class: "lineage", width, height, viewBox: `0 0 ${width} ${height}`, "aria-label": "Lineage graph" },
        svg("g", { class: "edges" }, edges),
        svg("g", { class: "nodes" }, nodes),
      ),
    ),
  );
}

const describe = (graph, uri) => graph.nodes.find((n) => n.uri === uri)?.label ?? uri;

/** What a non-version node is and how it connects, shown under the graph. */
export function nodeDetails(graph, node) {
  const relations = graph.edges
    .filter((e) => e.source === node.uri || e.target === node.uri)
    .map((e) => h("li", {}, `${describe(graph, e.source)} ${relationText(e.relation)} ${describe(graph, e.target)}`));
  return h(
    "div",
    { class: "node-details" },
    h("h3", {}, node.label ?? node.uri),
    h(
      "dl",
      {},
      h("dt", {}, "Kind"), h("dd", {}, kindLabel(node.kind)),
      h("dt", {}, "URI"), h("dd", {}, h("code", {}, node.uri)),
      node.registry ? [h("dt", {}, "Registry"), h("dd", {}, node.registry)] : null,
    ),
    h("ul", { class: "relations" }, relations),
  );
}

// The lineage graph as inline SVG: a layered layout, left to right, in the
// direction things flow: datasets and code → runs → versions (parents first) → deployments.
import { h, svg } from "./dom.js";

const NODE = { width: 230, height: 46, columnGap: 70, rowGap: 14, pad: 12 };
const INPUT_KINDS = new Set(["dataset", "code"]);

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

function columnsOf(graph) {
  const depth = derivationDepth(graph);
  const firstVersion = graph.nodes.some((n) => n.kind === "run") ? 2 : 1;
  const lastVersion = firstVersion + Math.max(0, ...depth.values());
  const column = (node) => {
    if (node.kind === "model_version") return firstVersion + depth.get(node.uri);
    if (node.kind === "run") return 1;
    if (node.kind === "deployment") return lastVersion + 1;
    return INPUT_KINDS.has(node.kind) ? 0 : firstVersion - 1;
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

const clip = (text, max = 30) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
const KIND_LABEL = { model_version: "model version" };

function nodeView(node, at, current, onSelect) {
  const label = node.label ?? node.uri;
  return svg(
    "g",
    {
      class: `node kind-${node.kind}${node.uri === current ? " current" : ""}`,
      transform: `translate(${at.x},${at.y})`,
      tabindex: 0,
      role: "button",
      "aria-label": `${KIND_LABEL[node.kind] ?? node.kind}: ${label}`,
      "data-uri": node.uri,
      "data-kind": node.kind,
      onclick: () => onSelect(node),
      onkeydown: (event) => (event.key === "Enter" || event.key === " ") && onSelect(node),
    },
    svg("title", {}, node.uri),
    svg("rect", { width: NODE.width, height: NODE.height, rx: 8 }),
    svg("text", { x: 12, y: 17, class: "kind" }, (KIND_LABEL[node.kind] ?? node.kind).toUpperCase()),
    svg("text", { x: 12, y: 35, class: "label" }, clip(label)),
  );
}

/** The graph as an SVG element; onSelect(node) runs when a node is clicked. */
export function lineageGraph(graph, current, onSelect) {
  const { position, width, height } = layout(graph);
  const edges = graph.edges
    .filter((e) => position.has(e.source) && position.has(e.target))
    .map((e) =>
      svg(
        "path",
        { class: `edge rel-${e.relation.toLowerCase()}`, d: edgePath(position.get(e.source), position.get(e.target)) },
        svg("title", {}, e.relation),
      ),
    );
  const nodes = graph.nodes.map((n) => nodeView(n, position.get(n.uri), current, onSelect));
  return h(
    "div",
    { class: "lineage-scroll" },
    svg(
      "svg",
      { class: "lineage", width, height, viewBox: `0 0 ${width} ${height}`, "aria-label": "Lineage graph" },
      svg("g", { class: "edges" }, edges),
      svg("g", { class: "nodes" }, nodes),
    ),
  );
}

const describe = (graph, uri) => graph.nodes.find((n) => n.uri === uri)?.label ?? uri;

/** What a non-version node is and how it connects, shown under the graph. */
export function nodeDetails(graph, node) {
  const relations = graph.edges
    .filter((e) => e.source === node.uri || e.target === node.uri)
    .map((e) => {
      const relation = e.relation.replaceAll("_", " ").toLowerCase();
      return h("li", {}, `${describe(graph, e.source)} ${relation} ${describe(graph, e.target)}`);
    });
  return h(
    "div",
    { class: "node-details" },
    h("h3", {}, node.label ?? node.uri),
    h(
      "dl",
      {},
      h("dt", {}, "Kind"), h("dd", {}, KIND_LABEL[node.kind] ?? node.kind),
      h("dt", {}, "URI"), h("dd", {}, h("code", {}, node.uri)),
      node.registry ? [h("dt", {}, "Registry"), h("dd", {}, node.registry)] : null,
    ),
    h("ul", { class: "relations" }, relations),
  );
}

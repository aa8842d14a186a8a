// Small DOM helpers. Data always goes in as text, never as markup.

const SVG_NS = "http://www.w3.org/2000/svg"; // a namespace name, never fetched

function build(el, props, children) {
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  el.append(...children.flat(Infinity).filter((c) => c != null && c !== false));
  return el;
}

/** An HTML element: h("a", {href: "#/"}, "text", child, [more]). */
export function h(tag, props = {}, ...children) {
  return build(document.createElement(tag), props, children);
}

/** An SVG element, same shape as h(). */
export function svg(tag, props = {}, ...children) {
  return build(document.createElementNS(SVG_NS, tag), props, children);
}

export function stageBadge(stage) {
  return h("span", { class: `badge stage-${stage.toLowerCase()}`, title: `stage ${stage}` }, stage);
}

/** "v3" for version 3, but a version already spelled "v1.0.0" (a Git tag) stays as it is. */
export function versionLabel(version) {
  return /^v\d/i.test(version) ? version : `v${version}`;
}

export function ago(iso) {
  if (!iso) return "never";
  const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 45) return "just now";
  const units = [["day", 86400], ["h", 3600], ["min", 60]];
  const [unit, size] = units.find(([, s]) => seconds >= s) ?? ["min", 60];
  const n = Math.round(seconds / size);
  return unit === "day" ? `${n} day${n === 1 ? "" : "s"} ago` : `${n} ${unit} ago`;
}

const KIND_NAMES = {
  MLFLOW: "MLflow",
  SAGEMAKER: "SageMaker",
  VERTEX: "Vertex AI",
  NATIVE: "native",
  GTO: "Git (GTO)",
  KUBEFLOW: "Kubeflow",
  AZUREML: "Azure ML",
  WANDB: "W&B",
  HUGGINGFACE: "Hugging Face",
  UNITY_CATALOG: "Unity Catalog",
};

/** What kind of registry this is: MLflow, SageMaker, a plugin's own name... */
export function kindBadge(registry) {
  const kind = registry.kind === "OTHER" && registry.kindName ? registry.kindName : registry.kind;
  return h("span", { class: `kind-badge kind-${String(kind).toLowerCase()}`, title: "registry kind" }, KIND_NAMES[kind] ?? kind);
}

/** A link into the source registry's own UI (MLflow, a cloud console, the Git
 * repository). A browser will not open file:// from this page, so a local
 * repository is shown as text to copy instead. */
export function sourceLink(url, registry) {
  if (!url) return null;
  const kind = registry?.kind === "OTHER" ? registry.kindName : registry?.kind;
  const where = KIND_NAMES[kind] ?? kind ?? "the registry";
  if (/^https?:\/\//.test(url)) {
    return h("a", { class: "source-link", href: url, target: "_blank", rel: "noopener noreferrer" }, `Open in ${where}`);
  }
  return h("span", { class: "source-link muted", title: `where ${where} keeps it` }, h("code", {}, url));
}

/** A registry that is not serving fresh data, said on the page (not only in a tooltip). */
export function registryProblem(registry) {
  if (registry.healthy) return null;
  return h(
    "p",
    { class: "registry-problem", role: "status", "data-registry": registry.id },
    h("strong", {}, registry.id),
    registry.state === "SYNCING"
      ? ": its first sync is still running, so its models may be missing for now."
      : `: ${registry.lastError ?? "not answering"}. What you see is the catalogue's copy from ${ago(registry.syncedAt)}.`,
  );
}

/** A registry's name with how fresh the gateway's copy of it is. */
export function registryChip(registry) {
  const state = registry.healthy ? "healthy" : "stale";
  const title = registry.healthy
    ? `synced ${registry.syncedAt ?? "never"}`
    : `unavailable: ${registry.lastError ?? "unknown error"}; served from the index`;
  return h(
    "span",
    { class: `registry-chip ${state}`, title, "data-registry": registry.id },
    h("span", { class: "dot", "aria-hidden": "true" }),
    registry.id,
    registry.kind ? kindBadge(registry) : null,
    h("span", { class: "muted" }, ` · synced ${ago(registry.syncedAt)}`),
  );
}

export function metricsText(metrics) {
  return metrics.map((m) => `${m.key} ${Number(m.value.toPrecision(4))}`).join(" · ");
}

// mg://<registry>/<model>/<version>: the model is everything before the last "/".
export const modelUriOf = (versionUri) => versionUri.slice(0, versionUri.lastIndexOf("/"));
export const versionOf = (versionUri) => versionUri.slice(versionUri.lastIndexOf("/") + 1);

export const links = {
  model(modelUri, version) {
    const query = version ? `?version=${encodeURIComponent(version)}` : "";
    return `#/model/${encodeURIComponent(modelUri)}${query}`;
  },
  version: (versionUri) => links.model(modelUriOf(versionUri), versionOf(versionUri)),
};

/** "1 version", "2 versions". */
export const plural = (n, word, many = `${word}s`) => `${n} ${n === 1 ? word : many}`;

export function section(title, ...children) {
  return h("section", { class: "panel" }, h("h2", {}, title), ...children);
}

// Impact: every version downstream of a dataset, code, a model or a version,
// with the path that reaches it ("what breaks if this dataset is wrong?").
import { ApiError, gql } from "./api.js";
import { h, links, plural, section } from "./dom.js";
import { RELATIONS } from "./lineage.js";

const IMPACT = `query Impact($uri: String!) {
  impactAnalysis(uri: $uri) {
    root truncated nodesVisited
    versions { uri depth path relations version { stage model { name registry { id } } } }
  }
}`;

const short = (uri) => uri.replace("mg://", "");

/** "base/1 trained on s3://data/tx; tuned/1 fine-tuned from base/1": each hop, from the root out. */
function pathText(hit) {
  return hit.relations
    .map((relation, i) => `${short(hit.path[i + 1])} ${RELATIONS[relation] ?? relation} ${short(hit.path[i])}`)
    .join("; ");
}

/** #/impact?uri=<any node: mg:// URI, registry reference, dataset URI> */
export async function renderImpact(page, params) {
  const wanted = params.get("uri") ?? "";
  const input = h("input", {
    type: "search",
    name: "uri",
    value: wanted,
    "aria-label": "Node to analyse",
    placeholder: "mg://registry/model[/version], a dataset URI (s3://…), a registry reference…",
  });
  const form = h(
    "form",
    {
      class: "impact-form",
      onsubmit: (event) => {
        event.preventDefault();
        location.hash = `#/impact?uri=${encodeURIComponent(input.value.trim())}`;
      },
    },
    input,
    h("button", { type: "submit" }, "Find what depends on it"),
  );
  const result = h("div", { class: "impact-result" });
  page.append(h("header", { class: "page-head" }, h("h1", {}, "Impact")), section("Downstream of a node", form, result));
  if (!wanted) {
    result.append(h("p", { class: "muted" }, "Name a dataset, a model or a version to list every version built on it."));
    return;
  }
  try {
    const analysis = (await gql(IMPACT, { uri: wanted }, { quiet: ["NOT_FOUND", "BAD_USER_INPUT"] })).data.impactAnalysis;
    const items = analysis.versions.map((hit) =>
      h(
        "li",
        { "data-uri": hit.uri },
        h("a", { href: links.version(hit.uri) }, hit.uri.replace("mg://", "")),
        h("span", { class: "muted" }, ` ${hit.version?.stage ?? ""} · ${plural(hit.depth, "hop")} away`),
        h("span", { class: "path" }, pathText(hit)),
      ),
    );
    // Element.append would print a null as the text "null": leave the note out instead.
    result.append(
      ...[
        h("p", { class: "summary", role: "status" }, `${plural(analysis.versions.length, "version")} downstream of ${analysis.root}`),
        items.length ? h("ol", { class: "impact-list" }, items) : h("p", { class: "muted" }, "Nothing is built on it."),
        analysis.truncated ? h("p", { class: "muted" }, "The walk was cut short: there may be more.") : null,
      ].filter(Boolean),
    );
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    result.append(h("p", { class: "bad", role: "status" }, error.errors.map((e) => e.message).join("; ")));
  }
}

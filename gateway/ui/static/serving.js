// Serving: every endpoint the registries read or serving systems reported, and
// which version takes which share of its traffic, and the canary rollouts onto them.
import { gql } from "./api.js";
import { ago, h, links, section, stageBadge } from "./dom.js";
import { rolloutsPanel } from "./rollouts.js";

const ENDPOINTS = `query Endpoints($registry: String) {
  endpoints(registry: $registry) {
    uri name status updatedAt registry { id }
    traffic { variant percent version { uri version stage model { name } } }
  }
}`;

function share(t) {
  const v = t.version;
  return h(
    "li",
    {},
    h("strong", {}, `${t.percent}%`),
    " ",
    v ? h("a", { href: links.version(v.uri) }, `${v.model.name} v${v.version}`) : h("span", { class: "muted" }, "not a catalogue version"),
    v ? [" ", stageBadge(v.stage)] : null,
    t.variant ? h("span", { class: "muted" }, ` · ${t.variant}`) : null,
  );
}

const servingLink = (registry, endpoint) => {
  const query = new URLSearchParams([...(registry ? [["registry", registry]] : []), ...(endpoint ? [["endpoint", endpoint]] : [])]);
  return `#/serving${query.size ? `?${query}` : ""}`;
};

/** #/serving?registry=<id>&endpoint=<uri> (the endpoint narrows the rollouts shown) */
export async function renderServing(page, params) {
  const registry = params.get("registry") || null;
  const endpoint = params.get("endpoint") || null;
  const { data } = await gql(ENDPOINTS, { registry });
  const rows = data.endpoints.map((e) =>
    h(
      "tr",
      { "data-endpoint": e.uri, class: e.uri === endpoint ? "selected" : null },
      h(
        "td",
        {},
        h("strong", {}, e.name),
        h("div", { class: "muted" }, e.uri),
        h("a", { class: "endpoint-rollouts", href: servingLink(registry, e.uri) }, "Rollouts"),
      ),
      h("td", {}, e.registry.id),
      h("td", {}, e.status ?? ""),
      h("td", {}, h("ul", { class: "traffic" }, e.traffic.map(share))),
      h("td", {}, e.updatedAt ? ago(e.updatedAt) : ""),
    ),
  );
  page.append(
    section(
      "Endpoints",
      rows.length
        ? h(
            "table",
            { class: "endpoints" },
            h("thead", {}, h("tr", {}, ["Endpoint", "Registry", "Status", "Traffic", "Updated"].map((c) => h("th", {}, c)))),
            h("tbody", {}, rows),
          )
        : h("p", { class: "empty" }, "No endpoints: none read from the registries, none reported."),
    ),
  );
  const shown = new Set(data.endpoints.map((e) => e.uri));
  const named = data.endpoints.find((e) => e.uri === endpoint);
  const rollouts = rolloutsPanel(
    named ? `Rollouts onto ${named.name}` : "Rollouts",
    (r) => (endpoint ? r.endpoint.uri === endpoint : !registry || shown.has(r.endpoint.uri)),
    endpoint ? "No rollouts onto this endpoint." : "No canary rollouts yet: start one from a version's page.",
  );
  if (endpoint) rollouts.panel.append(h("p", {}, h("a", { href: servingLink(registry, null) }, "Show the rollouts of every endpoint")));
  page.append(rollouts.panel);
  await rollouts.load();
}

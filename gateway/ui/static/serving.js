// Serving: every endpoint the registries read or serving systems reported, and
// which version takes which share of its traffic.
import { gql } from "./api.js";
import { ago, h, links, section, stageBadge } from "./dom.js";

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

/** #/serving?registry=<id> */
export async function renderServing(page, params) {
  const registry = params.get("registry") || null;
  const { data } = await gql(ENDPOINTS, { registry });
  const rows = data.endpoints.map((e) =>
    h(
      "tr",
      { "data-endpoint": e.uri },
      h("td", {}, h("strong", {}, e.name), h("div", { class: "muted" }, e.uri)),
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
}

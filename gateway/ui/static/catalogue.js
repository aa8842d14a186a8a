// The catalogue: free-text search with facets, and how fresh each registry is.
import { gql, surface } from "./api.js";
import { ago, h, links, plural, registryChip, registryProblem, stageBadge, versionLabel } from "./dom.js";

const PAGE = 20;
const FACETS = [
  ["registry", "Registry"],
  ["team", "Team"],
  ["stage", "Stage"],
  ["compliance", "Compliance"],
];

const SEARCH = `query Catalogue($query: String, $filter: SearchFilter, $first: Int, $after: String) {
  registries { id kind kindName state team healthy syncedAt lastError modelCount versionCount }
  models(query: $query, filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    facets { registry { value count } team { value count } stage { value count } compliance { value count } }
    edges { node {
      uri name description team updatedAt
      registry { id }
      latestVersion { version stage createdAt }
      production: versions(stage: PRODUCTION, first: 2) { edges { node { version } } }
    } }
  }
}`;

/** The search state lives in the URL (#/?q=...&team=...), so it can be shared. */
function stateFrom(params) {
  return {
    q: params.get("q") ?? "",
    ...Object.fromEntries(FACETS.map(([name]) => [name, params.getAll(name)])),
  };
}

function hashOf(state) {
  const params = new URLSearchParams();
  if (state.q) params.set("q", state.q);
  for (const [name] of FACETS) state[name].forEach((value) => params.append(name, value));
  const query = params.toString();
  return query ? `#/?${query}` : "#/";
}

function filterOf(state) {
  const compliance = state.compliance;
  return {
    registries: state.registry,
    teams: state.team,
    stages: state.stage,
    // Both values (or neither) selected means no compliance filter.
    compliant: compliance.length === 1 ? compliance[0] === "compliant" : null,
  };
}

const LIFECYCLE = ["DRAFT", "STAGING", "PRODUCTION", "ARCHIVED"];

function facetGroup(name, title, facets, state, toggle) {
  // Stages read best in lifecycle order; other facets come most frequent first.
  const lifecycle = (a, b) => LIFECYCLE.indexOf(a.value) - LIFECYCLE.indexOf(b.value);
  const ordered = name === "stage" ? [...facets].sort(lifecycle) : facets;
  const counts = new Map(ordered.map((f) => [f.value, f.count]));
  for (const value of state[name]) if (!counts.has(value)) counts.set(value, 0);
  const buttons = [...counts].map(([value, count]) => {
    const active = state[name].includes(value);
    return h(
      "li",
      {},
      h(
        "button",
        {
          type: "button",
          class: `facet${active ? " active" : ""}`,
          "aria-pressed": String(active),
          "data-facet": name,
          "data-value": value,
          onclick: () => toggle(name, value),
        },
        name === "stage" ? stageBadge(value) : value,
        h("span", { class: "count" }, String(count)),
      ),
    );
  });
  return h("div", { class: "facet-group", "data-facet-group": name }, h("h3", {}, title), h("ul", {}, buttons));
}

function resultCard(model, registries) {
  const latest = model.latestVersion;
  const production = model.production.edges[0]?.node;
  // The registry states two PRODUCTION versions (say, two Approved SageMaker packages).
  const conflict = model.production.edges.length > 1;
  const registry = registries.get(model.registry.id);
  return h(
    "li",
    { class: "result", "data-uri": model.uri },
    h(
      "div",
      { class: "result-head" },
      h("a", { class: "name", href: links.model(model.uri) }, model.name),
      h(
        "span",
        { class: "stages" },
        production
          ? h("span", { class: "version-badge" }, stageBadge("PRODUCTION"), ` ${versionLabel(production.version)}`)
          : null,
        conflict
          ? h(
              "span",
              { class: "conflict", title: "More than one version is PRODUCTION in the source registry" },
              "several in production",
            )
          : null,
        latest && latest.version !== production?.version
          ? h("span", { class: "version-badge" }, stageBadge(latest.stage), ` ${versionLabel(latest.version)}`)
          : null,
      ),
    ),
    model.description ? h("p", { class: "description" }, model.description) : null,
    h(
      "p",
      { class: "meta" },
      registry ? registryChip(registry) : model.registry.id,
      model.team ? h("span", {}, `team ${model.team}`) : null,
      // Some registries keep no update time for a model (a SageMaker package group):
      // then say when its latest version came.
      model.updatedAt || !latest?.createdAt
        ? h("span", { class: "muted" }, `updated ${ago(model.updatedAt)}`)
        : h("span", { class: "muted" }, `latest version ${ago(latest.createdAt)}`),
    ),
  );
}

function freshnessStrip(registries) {
  const all = [...registries.values()];
  return h(
    "div",
    {},
    h(
      "div",
      { class: "freshness", "aria-label": "Registry freshness" },
      all.map((r) =>
        h(
          "span",
          { class: "freshness-item" },
          registryChip(r),
          h("span", { class: "muted" }, ` · ${plural(r.modelCount, "model")}, ${plural(r.versionCount, "version")}`),
        ),
      ),
    ),
    all.map(registryProblem),
  );
}

/** #/?q=<text>&registry=..&team=..&stage=..&compliance=.. */
export async function renderCatalogue(page, params) {
  const state = stateFrom(params);
  const input = h("input", {
    type: "search",
    name: "q",
    value: state.q,
    placeholder: "Search every registry: name, description, tags…",
    "aria-label": "Search models",
    autocomplete: "off",
  });
  const facets = h("aside", { class: "facets", "aria-label": "Facets" });
  const freshness = h("div");
  const summary = h("p", { class: "summary", role: "status" });
  const results = h("ol", { class: "results" });
  const more = h("button", { type: "button", class: "more", hidden: true }, "More results");
  page.append(
    h(
      "div",
      { class: "catalogue" },
      facets,
      h(
        "div",
        { class: "results-column" },
        h("form", { role: "search", onsubmit: (e) => e.preventDefault() }, input),
        freshness,
        summary,
        results,
        more,
      ),
    ),
  );

  let latest = 0; // answers to older searches are dropped
  let cursor = null;
  const load = async (append) => {
    const mine = ++latest;
    const variables = { query: state.q || null, filter: filterOf(state), first: PAGE, after: append ? cursor : null };
    const { data, warnings } = await gql(SEARCH, variables);
    if (mine !== latest) return;
    // A registry that failed just now is stale whatever its last sync said.
    const down = new Map(warnings.map((w) => [w.extensions.registry, w.message]));
    const registries = new Map(
      data.registries.map((r) => [r.id, down.has(r.id) ? { ...r, healthy: false, lastError: down.get(r.id) } : r]),
    );
    const found = data.models;
    cursor = found.pageInfo.endCursor;
    freshness.replaceChildren(freshnessStrip(registries));
    facets.replaceChildren(
      ...FACETS.map(([name, title]) => facetGroup(name, title, found.facets[name], state, toggle)),
    );
    const count = plural(found.totalCount, "model");
    summary.textContent = state.q ? `${count} matching “${state.q}”` : count;
    const cards = found.edges.map((e) => resultCard(e.node, registries));
    if (append) results.append(...cards);
    else results.replaceChildren(...cards);
    more.hidden = !found.pageInfo.hasNextPage;
  };
  const update = async () => {
    if (!page.isConnected) return; // a search typed just before leaving the page
    history.replaceState(null, "", hashOf(state));
    await load(false);
  };
  const toggle = (name, value) => {
    const values = state[name];
    state[name] = values.includes(value) ? values.filter((v) => v !== value) : [...values, value];
    update().catch(surface);
  };
  let typing;
  input.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      state.q = input.value.trim();
      update().catch(surface);
    }, 200);
  });
  more.addEventListener("click", () => load(true).catch(surface));
  await load(false);
  input.focus();
}

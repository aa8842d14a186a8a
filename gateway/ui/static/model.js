// A model's page: its versions, and one version in full with its lineage graph.
import { ApiError, gql, surface } from "./api.js";
import { ago, h, links, metricsText, registryChip, registryProblem, section, sourceLink, stageBadge, versionLabel } from "./dom.js";
import { filesPanel } from "./files.js";
import { trainingCurves } from "./history.js";
import { lineageGraph, nodeDetails } from "./lineage.js";
import { rolloutsPanel, startRolloutForm } from "./rollouts.js";

const MODEL = `query Model($uri: String!) {
  model(uri: $uri) {
    uri name description team tags { key value } updatedAt sourceUrl
    registry { id kind kindName state healthy syncedAt lastError }
    versions(first: 100) {
      totalCount
      edges { node { uri version semver stage createdAt metrics { key value } compliance { compliant } } }
    }
  }
}`;

const VERSION = `query Version($uri: String!) {
  modelVersion(uri: $uri) {
    uri version semver stage nativeStage aliases description artifactUri createdAt createdBy sourceUrl
    files { path size digest }
    trainingData { uri name role }
    hyperparameters { key value }
    metrics { key value }
    deployments { endpoint trafficPercent registry variant status }
    modelCard { summary intendedUse limitations trainingDataSummary evaluation biasAssessment warnings }
    compliance { compliant violations { policy severity message } }
    lineage(depth: 3) { truncated nodes { uri kind label registry } edges { source target relation } }
  }
}`;

const HISTORY = `query StageHistory($uri: String!) {
  stageHistory(uri: $uri) { from to at principal source }
}`;

const REQUESTS = `query VersionRequests($uri: String!) {
  promotionRequests(uri: $uri, first: 20) {
    id fromStage targetStage status reason requestedBy createdAt requiredRoles requiredApprovals error
    approvals { principal role comment at }
    rejection { principal comment at }
  }
}`;

const REQUEST_PROMOTION = `mutation RequestPromotion($uri: String!, $to: Stage!, $reason: String) {
  requestPromotion(uri: $uri, targetStage: $to, reason: $reason) {
    id status targetStage requiredApprovals violations { policy severity message }
  }
}`;

const STAGES = ["DRAFT", "STAGING", "PRODUCTION", "ARCHIVED"];
// The move people usually make next from each stage.
const NEXT_STAGE = { DRAFT: "STAGING", STAGING: "PRODUCTION", PRODUCTION: "ARCHIVED", ARCHIVED: "STAGING" };

const CARD_FIELDS = [
  ["summary", "Summary"],
  ["intendedUse", "Intended use"],
  ["limitations", "Limitations"],
  ["trainingDataSummary", "Training data"],
  ["evaluation", "Evaluation"],
  ["biasAssessment", "Bias assessment"],
  ["warnings", "Warnings"],
];

function header(model) {
  return h(
    "header",
    { class: "page-head" },
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Catalogue"), " / ", model.registry.id),
    h("h1", {}, model.name),
    model.description ? h("p", { class: "lead" }, model.description) : null,
    h(
      "p",
      { class: "meta" },
      registryChip(model.registry),
      model.team ? h("span", {}, `team ${model.team}`) : null,
      model.tags.map((t) => h("span", { class: "tag" }, `${t.key}=${t.value}`)),
      h("a", { class: "impact-link", href: `#/impact?uri=${encodeURIComponent(model.uri)}` }, "What depends on it?"),
      sourceLink(model.sourceUrl, model.registry),
    ),
    registryProblem(model.registry),
  );
}

const COLUMNS = ["Version", "Stage", "Metrics", "Compliance", "Created"];

function versionsTable(model, selected) {
  const current = (v) => (v.version === selected ? "true" : null);
  const rows = model.versions.edges.map(({ node: v }) =>
    h(
      "tr",
      { class: current(v) && "selected", "data-version": v.version },
      h(
        "td",
        {},
        h("a", { href: links.model(model.uri, v.version), "aria-current": current(v) }, versionLabel(v.version)),
        v.semver ? h("span", { class: "muted" }, ` ${v.semver}`) : null,
      ),
      h("td", {}, stageBadge(v.stage)),
      h("td", { class: "metrics" }, metricsText(v.metrics)),
      h("td", {}, v.compliance.compliant ? "compliant" : h("span", { class: "bad" }, "non-compliant")),
      h("td", { class: "muted" }, ago(v.createdAt)),
    ),
  );
  return section(
    `Versions (${model.versions.totalCount})`,
    h(
      "table",
      { class: "versions" },
      h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", {}, c)))),
      h("tbody", {}, rows),
    ),
  );
}

/** A definition list of the [term, value] pairs that have a value. */
function definitions(pairs) {
  const given = pairs.filter(([, value]) => value != null && value !== "");
  return h("dl", {}, given.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

function modelCard(card) {
  const body = card
    ? h("div", { class: "model-card" }, definitions(CARD_FIELDS.map(([key, term]) => [term, card[key]])))
    : h("p", { class: "muted" }, "No model card.");
  return section("Model card", body);
}

function record(v, model) {
  return section(
    `Version ${v.version}`,
    h(
      "p",
      { class: "meta" },
      stageBadge(v.stage),
      v.nativeStage ? h("span", { class: "muted" }, `native: ${v.nativeStage}`) : null,
      v.aliases.map((a) => h("span", { class: "tag" }, a)),
      v.sourceUrl && v.sourceUrl !== model.sourceUrl ? sourceLink(v.sourceUrl, model.registry) : null,
    ),
    v.description ? h("p", {}, v.description) : null,
    definitions([
      ["Metrics", metricsText(v.metrics)],
      ["Parameters", v.hyperparameters.map((p) => `${p.key}=${p.value}`).join(" · ")],
      ["Training data", v.trainingData.map((d) => `${d.role ?? "data"}: ${d.uri}`).join("\n")],
      [
        "Deployments",
        v.deployments
          .map((d) => `${d.endpoint}${d.variant ? ` · ${d.variant}` : ""}: ${d.trafficPercent ?? "?"}%${d.status ? ` (${d.status})` : ""}`)
          .join("\n"),
      ],
      ["Artifact", v.artifactUri],
      ["Created", v.createdAt ? `${ago(v.createdAt)}${v.createdBy ? ` by ${v.createdBy}` : ""}` : null],
    ]),
  );
}

/** One request with the approvals it collected: a role approved twice, for two
 * requests, reads as two requests, not as one list with TEAM_LEAD twice. */
function requestSummary(r) {
  const approvals = r.approvals.map((a) =>
    h("li", {}, h("strong", {}, a.role), ` by ${a.principal}, ${ago(a.at)}`, a.comment ? `: “${a.comment}”` : ""),
  );
  const missing = r.requiredApprovals.length && r.status === "PENDING" ? `waiting for ${r.requiredApprovals.join(", ")}` : null;
  return h(
    "li",
    { class: "request-summary-item", "data-request-id": r.id, "data-status": r.status },
    h(
      "div",
      {},
      stageBadge(r.fromStage),
      " → ",
      stageBadge(r.targetStage),
      h("strong", {}, ` ${r.status.toLowerCase()}`),
      h("span", { class: "muted" }, ` · requested by ${r.requestedBy} ${ago(r.createdAt)}`),
      r.reason ? h("span", { class: "muted" }, ` · “${r.reason}”`) : null,
    ),
    approvals.length ? h("ul", { class: "approvals" }, approvals) : h("p", { class: "muted" }, "No approvals yet."),
    missing ? h("p", { class: "muted" }, missing) : null,
    r.rejection ? h("p", { class: "bad" }, `Rejected by ${r.rejection.principal}: ${r.rejection.comment}`) : null,
    r.error ? h("p", { class: "bad" }, `Write-through failed: ${r.error}`) : null,
  );
}

function requestForm(v, onRequested) {
  const target = h(
    "select",
    { "aria-label": "Target stage", name: "stage" },
    STAGES.filter((s) => s !== v.stage).map((s) => h("option", { value: s, selected: s === NEXT_STAGE[v.stage] }, s)),
  );
  const reason = h("input", { type: "text", name: "reason", "aria-label": "Reason", placeholder: "Why (shown to approvers)" });
  const outcome = h("p", { class: "outcome", role: "status" });
  const submit = async (event) => {
    event.preventDefault();
    outcome.textContent = "";
    try {
      const { data } = await gql(
        REQUEST_PROMOTION,
        { uri: v.uri, to: target.value, reason: reason.value.trim() || null },
        { quiet: ["FORBIDDEN", "BAD_USER_INPUT", "CONFLICT"] },
      );
      const r = data.requestPromotion;
      const blocked = r.violations.filter((x) => x.severity === "error").map((x) => `${x.policy}: ${x.message}`);
      outcome.className = `outcome ${r.status === "BLOCKED" ? "bad" : "good"}`;
      outcome.textContent =
        r.status === "BLOCKED"
          ? `Blocked by policy: ${blocked.join("; ")}`
          : `Requested ${r.targetStage}: ${r.status.toLowerCase()}` +
            (r.requiredApprovals.length ? `, waiting for ${r.requiredApprovals.join(", ")}` : "");
      reason.value = "";
      await onRequested();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      outcome.className = "outcome bad";
      outcome.textContent = error.errors.map((e) => `${e.extensions?.code ?? "ERROR"}: ${e.message}`).join("; ");
    }
  };
  return h(
    "form",
    { class: "request-form", "aria-label": "Request a promotion", onsubmit: (e) => submit(e).catch(surface) },
    h("label", {}, "Move to ", target),
    reason,
    h("button", { type: "submit" }, "Request promotion"),
    outcome,
  );
}

function governance(v) {
  const requests = h("ul", { class: "request-summary" });
  const load = async () => {
    const found = (await gql(REQUESTS, { uri: v.uri })).data.promotionRequests;
    requests.replaceChildren(...found.map(requestSummary));
    if (!found.length) requests.append(h("li", { class: "muted" }, "No promotion requests for this version."));
  };
  const violations = v.compliance.violations.map((x) =>
    h("li", { class: `severity-${x.severity}` }, h("strong", {}, x.policy), ` (${x.severity}): ${x.message}`),
  );
  const panel = section(
    "Promotions and compliance",
    requestForm(v, load),
    h("h3", {}, "Requests"),
    requests,
    v.compliance.compliant
      ? h("p", {}, "Compliant with every error-severity policy.")
      : h("p", { class: "bad" }, "Not compliant."),
    violations.length ? h("ul", { class: "violations" }, violations) : null,
  );
  return { panel, load };
}

function lineage(v) {
  const hint = "Click a node: a model version opens its model page; anything else shows its details here.";
  const details = h("div", { class: "details-slot" }, h("p", { class: "muted" }, hint));
  const select = (node) => {
    if (node.kind === "model_version" && node.uri.startsWith("mg://")) location.hash = links.version(node.uri);
    else details.replaceChildren(nodeDetails(v.lineage, node));
  };
  return section(
    "Lineage",
    lineageGraph(v.lineage, v.uri, select),
    v.lineage.truncated ? h("p", { class: "muted" }, "The graph was cut short at the node limit.") : null,
    details,
  );
}

/** Every stage change of the version, oldest first, with who made it and how. */
async function stageHistory(uri) {
  const { data } = await gql(HISTORY, { uri });
  const rows = data.stageHistory.map((c) =>
    h(
      "li",
      { class: "stage-change" },
      c.from ? stageBadge(c.from) : h("span", { class: "muted" }, "first seen"),
      " → ",
      stageBadge(c.to),
      h("span", { class: "muted" }, ` · ${c.source}${c.principal ? ` by ${c.principal}` : ""}, ${ago(c.at)}`),
    ),
  );
  return section("Stage history", rows.length ? h("ol", { class: "stage-history" }, rows) : h("p", { class: "empty" }, "No stage changes recorded."));
}

/**
 * #/model/<model uri>?version=<version>; a reference by stage or alias works in either
 * place: ?version=@production or #/model/mg://<registry>/<model>@champion. The gateway
 * resolves it (CONFLICT or NOT_FOUND show in the banner) and the page shows the version
 * that holds it now.
 */
export async function renderModel(page, uri, wanted) {
  const at = uri.indexOf("@");
  if (at >= 0) [uri, wanted] = [uri.slice(0, at), uri.slice(at)];
  const { data } = await gql(MODEL, { uri });
  const model = data.model;
  if (!model) {
    page.append(h("p", { class: "empty" }, `No model ${uri} in the catalogue.`));
    return;
  }
  const versions = model.versions.edges.map((e) => e.node);
  const resolved = wanted?.startsWith("@") ? (await gql(VERSION, { uri: `${model.uri}${wanted}` })).data.modelVersion : null;
  const chosen = resolved
    ? resolved
    : versions.find((v) => v.version === wanted) ?? versions.find((v) => v.stage === "PRODUCTION") ?? versions[0];
  page.append(header(model), versionsTable(model, chosen?.version));
  if (!chosen) return;
  const detail = resolved ?? (await gql(VERSION, { uri: chosen.uri })).data.modelVersion;
  const promotions = governance(detail);
  const curves = trainingCurves(detail.uri);
  const rollouts = rolloutsPanel("Rollouts", (r) => r.version.uri === detail.uri, "No rollouts of this version.");
  rollouts.panel.querySelector("h2").after(await startRolloutForm(detail, model.registry.id, rollouts.load));
  page.append(
    h("div", { class: "columns" }, record(detail, model), modelCard(detail.modelCard)),
    ...[filesPanel(detail)].filter(Boolean),
    curves.panel,
    promotions.panel,
    rollouts.panel,
    await stageHistory(detail.uri),
    lineage(detail),
  );
  await Promise.all([promotions.load(), curves.load(), rollouts.load()]);
}

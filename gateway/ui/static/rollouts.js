// Canary rollouts: the list for an endpoint or a version (refreshing itself while
// one is waiting or running), the "Start rollout" form and the Abort button.
import { ApiError, gql } from "./api.js";
import { ago, h, links, section } from "./dom.js";

const FIELDS = `
  id status currentPercent stepSeconds maxErrorRate reason requestedBy createdAt startedAt finishedAt canAbort
  steps { percent startedAt finishedAt errorRate passed }
  version { uri version model { name } }
  endpoint { uri name }
  promotion { id status requiredApprovals }`;

const ROLLOUTS = `query Rollouts { rollouts { ${FIELDS} } }`;

const OPTIONS = `query RolloutOptions($uri: String!, $registry: String) {
  rolloutOptions(uri: $uri) { canStart steps stepSeconds maxErrorRate }
  endpoints(registry: $registry) { uri name }
}`;

const START = `mutation StartRollout($input: RolloutInput!) { startRollout(input: $input) { ${FIELDS} } }`;
const ABORT = `mutation AbortRollout($id: ID!, $reason: String!) { abortRollout(id: $id, reason: $reason) { ${FIELDS} } }`;

const ACTIVE = new Set(["PENDING_APPROVAL", "RUNNING"]);
// Often enough to follow a step, rarely enough not to load the gateway.
export const POLL_MS = 2000;
// Errors shown next to the form or the rollout they belong to, not in the banner.
const QUIET = ["FORBIDDEN", "BAD_USER_INPUT", "CONFLICT", "NOT_FOUND", "UNAUTHENTICATED"];

/** "CODE: message; ..." of an API error, or the client's own error. */
export function errorText(error) {
  if (error instanceof ApiError) return error.errors.map((e) => `${e.extensions?.code ?? "ERROR"}: ${e.message}`).join("; ");
  return `CLIENT_ERROR: ${error?.message ?? error}`;
}

const percent = (rate) => (rate == null ? "no traffic" : `${Number((rate * 100).toPrecision(3))} %`);
const time = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }) : "");

function stepState(step, index, rollout) {
  if (step.passed === true) return "passed";
  if (step.passed === false) return "failed";
  if (step.startedAt) return rollout.status === "RUNNING" ? "watching" : "stopped";
  return index === 0 && rollout.status === "PENDING_APPROVAL" ? "waiting" : "not reached";
}

/** When a step was watched: from its shift to its judgement (or to now, or to the rollout's end). */
function watched(step, rollout) {
  if (!step.startedAt) return "";
  const end = step.finishedAt ?? (ACTIVE.has(rollout.status) ? null : rollout.finishedAt);
  return `${time(step.startedAt)} – ${end ? time(end) : "now"}`;
}

function stepsTable(rollout) {
  const rows = rollout.steps.map((s, i) => {
    const state = stepState(s, i, rollout);
    return h(
      "tr",
      { class: `step step-${state.replace(" ", "-")}`, "data-percent": s.percent },
      h("td", {}, `${i + 1}`),
      h("td", { class: "num" }, `${s.percent} %`),
      h("td", {}, watched(s, rollout)),
      h("td", { class: "num error-rate" }, s.finishedAt ? percent(s.errorRate) : ""),
      h("td", { class: "num" }, `≤ ${percent(rollout.maxErrorRate)}`),
      h("td", { class: "state" }, state),
    );
  });
  return h(
    "table",
    { class: "rollout-steps" },
    h("thead", {}, h("tr", {}, ["Step", "Traffic", "Watched", "Error rate", "Threshold", ""].map((c) => h("th", {}, c)))),
    h("tbody", {}, rows),
  );
}

function promotionLink(p) {
  if (!p) return null;
  const waiting = p.status === "PENDING" && p.requiredApprovals.length ? `, waiting for ${p.requiredApprovals.join(", ")}` : "";
  return h(
    "span",
    { class: "promotion" },
    h("a", { href: `#/governance?status=${p.status}&request=${encodeURIComponent(p.id)}` }, "promotion request"),
    ` ${p.status.toLowerCase()}${waiting}`,
  );
}

function abortControl(rollout, reload) {
  const reason = h("input", { type: "text", "aria-label": "Abort reason", placeholder: "Why stop it (kept in the audit log)" });
  const outcome = h("p", { class: "outcome", role: "status" });
  const abort = async () => {
    outcome.textContent = "";
    if (!reason.value.trim()) {
      outcome.textContent = "Say why in the reason: an abort needs one.";
      return;
    }
    try {
      await gql(ABORT, { id: rollout.id, reason: reason.value.trim() }, { quiet: QUIET });
      await reload();
    } catch (error) {
      outcome.textContent = errorText(error);
    }
  };
  return h("div", { class: "actions" }, reason, h("button", { type: "button", class: "abort", onclick: abort }, "Abort"), outcome);
}

function rolloutCard(rollout, abort) {
  const v = rollout.version;
  const ended = !ACTIVE.has(rollout.status);
  return h(
    "li",
    { class: "rollout card", "data-rollout-id": rollout.id, "data-status": rollout.status },
    h(
      "div",
      { class: "result-head" },
      h(
        "span",
        {},
        h("a", { class: "name", href: links.version(v.uri) }, `${v.model.name} v${v.version}`),
        " → ",
        h("strong", {}, rollout.endpoint.name),
      ),
      h("span", { class: `rollout-status status-${rollout.status.toLowerCase()}` }, rollout.status),
    ),
    h(
      "p",
      { class: "meta" },
      h("span", {}, `${rollout.currentPercent} % of traffic now`),
      h("span", {}, `each step watched ${rollout.stepSeconds} s, error rate at most ${percent(rollout.maxErrorRate)}`),
      h("span", { class: "muted" }, `started by ${rollout.requestedBy} ${ago(rollout.createdAt)}`),
      ended && rollout.finishedAt ? h("span", { class: "muted" }, `ended ${ago(rollout.finishedAt)}`) : null,
      promotionLink(rollout.promotion),
    ),
    rollout.reason
      ? h("p", { class: `rollout-reason${["ROLLED_BACK", "FAILED", "ABORTED"].includes(rollout.status) ? " bad" : ""}` }, ended ? `Reason: ${rollout.reason}` : `“${rollout.reason}”`)
      : null,
    stepsTable(rollout),
    rollout.canAbort ? abort : null,
  );
}

/**
 * A panel of the rollouts `wanted` keeps. It loads when asked, then again every
 * POLL_MS while one of them is PENDING_APPROVAL or RUNNING and the panel is on the
 * page; an error is said in the panel (with its code), and the next poll retries.
 */
export function rolloutsPanel(title, wanted, empty) {
  const status = h("p", { class: "loading", role: "status" }, "Loading rollouts…");
  const failure = h("p", { class: "outcome rollouts-error", role: "alert" });
  const list = h("ol", { class: "rollouts" });
  const panel = section(title, status, failure, list);
  panel.classList.add("rollouts-panel");
  let timer = null;
  // Each rollout's Abort control lives across refreshes: a reason being typed survives a poll.
  const aborts = new Map();
  const abortOf = (r) => {
    if (!aborts.has(r.id)) aborts.set(r.id, abortControl(r, load));
    return aborts.get(r.id);
  };

  let latest = 0;

  const load = async () => {
    clearTimeout(timer);
    const mine = ++latest; // a poll and a reload after Abort may overlap: the last one asked wins
    let active = false;
    try {
      const found = (await gql(ROLLOUTS, {}, { quiet: QUIET })).data.rollouts.filter(wanted);
      if (mine !== latest) return;
      failure.textContent = "";
      list.replaceChildren(...found.map((r) => rolloutCard(r, r.canAbort ? abortOf(r) : null)));
      if (!found.length) list.append(h("li", { class: "empty" }, empty));
      active = found.some((r) => ACTIVE.has(r.status));
    } catch (error) {
      if (mine !== latest) return;
      failure.textContent = `Rollouts could not be loaded: ${errorText(error)}`;
      active = true; // try again: the gateway may be back by then
    } finally {
      status.remove();
    }
    panel.dataset.polling = String(active);
    if (active) {
      timer = setTimeout(function poll() {
        if (!panel.isConnected) return;
        // Someone typing an abort reason keeps the focus: look again a little later.
        if (list.contains(document.activeElement) && document.activeElement.matches("input")) timer = setTimeout(poll, POLL_MS);
        else load();
      }, POLL_MS);
    }
  };
  return { panel, load };
}

function field(label, input, hint) {
  return h("label", { class: "field" }, h("span", {}, label), input, hint ? h("span", { class: "muted hint" }, hint) : null);
}

/** The "Start rollout" form of a version, shown only if the caller may start one. */
export async function startRolloutForm(version, registry, onStarted) {
  const slot = h("div", { class: "start-rollout" }, h("p", { class: "loading", role: "status" }, "Loading…"));
  let data;
  try {
    data = (await gql(OPTIONS, { uri: version.uri, registry }, { quiet: QUIET })).data;
  } catch (error) {
    slot.replaceChildren(h("p", { class: "outcome" }, `Rollouts cannot be started here: ${errorText(error)}`));
    return slot;
  }
  const options = data.rolloutOptions;
  if (!options.canStart) {
    slot.replaceChildren(h("p", { class: "muted" }, "You may not roll this version out (only its team can)."));
    return slot;
  }
  if (!data.endpoints.length) {
    slot.replaceChildren(h("p", { class: "muted" }, `Registry ${registry} has no endpoints to roll out onto.`));
    return slot;
  }
  // The endpoint the version is already on (as a candidate variant, say) comes first to mind.
  const serving = new Set((version.deployments ?? []).map((d) => d.endpoint));
  const endpoint = h(
    "select",
    { name: "endpoint" },
    data.endpoints.map((e) => h("option", { value: e.uri, selected: serving.has(e.uri) }, e.name)),
  );
  const steps = h("input", { type: "text", name: "steps", placeholder: options.steps.join(", "), size: 22 });
  const seconds = h("input", { type: "number", name: "stepSeconds", min: 1, placeholder: String(options.stepSeconds) });
  const rate = h("input", { type: "number", name: "maxErrorRate", min: 0, max: 1, step: "any", placeholder: String(options.maxErrorRate) });
  const reason = h("input", { type: "text", name: "reason", size: 28 });
  const outcome = h("p", { class: "outcome", role: "status" });

  const input = () => {
    const given = steps.value.trim();
    return {
      uri: version.uri,
      endpoint: endpoint.value,
      steps: given ? given.split(/[\s,]+/).filter(Boolean).map(Number) : null,
      stepSeconds: seconds.value ? Number(seconds.value) : null,
      maxErrorRate: rate.value ? Number(rate.value) : null,
      reason: reason.value.trim() || null,
    };
  };
  const submit = async (event) => {
    event.preventDefault();
    outcome.className = "outcome";
    outcome.textContent = "";
    const plan = input();
    if (plan.steps?.some((p) => Number.isNaN(p))) {
      outcome.textContent = "Steps are traffic percentages separated by commas, e.g. 10, 50, 100.";
      return;
    }
    try {
      const r = (await gql(START, { input: plan }, { quiet: QUIET })).data.startRollout;
      outcome.className = "outcome good";
      outcome.textContent =
        r.status === "PENDING_APPROVAL"
          ? `Rollout onto ${r.endpoint.name} waits for approval${r.promotion?.requiredApprovals.length ? ` by ${r.promotion.requiredApprovals.join(", ")}` : ""}.`
          : `Rollout onto ${r.endpoint.name}: ${r.status}${r.reason ? ` (${r.reason})` : ""}.`;
      await onStarted();
    } catch (error) {
      outcome.className = "outcome bad";
      outcome.textContent = errorText(error);
    }
  };
  slot.replaceChildren(
    h(
      "form",
      { class: "rollout-form", "aria-label": "Start rollout", onsubmit: submit },
      field("Endpoint", endpoint, `of registry ${registry}`),
      field("Steps (%)", steps, `default ${options.steps.join(", ")}`),
      field("Watch per step (s)", seconds, `default ${options.stepSeconds}`),
      field("Max error rate", rate, `default ${options.maxErrorRate}`),
      field("Reason", reason, "shown to approvers"),
      h("button", { type: "submit" }, "Start rollout"),
    ),
    outcome,
  );
  return slot;
}

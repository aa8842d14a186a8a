// The audit log: every mutation, decision and write-through, hash-chained;
// filter by subject, principal or action, and check the chain.
import { ApiError, gql } from "./api.js";
import { ago, h, links, plural, section } from "./dom.js";

const EVENTS = `query Audit($first: Int, $after: String, $subject: String, $principal: String, $action: String) {
  auditVerification { ok events headHash problem }
  auditEvents(first: $first, after: $after, subject: $subject, principal: $principal, action: $action) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id sequence at action principal subject details hash prevHash } }
  }
}`;

const FILTERS = [
  ["subject", "Subject (a version or model URI)"],
  ["principal", "Principal"],
  ["action", "Action (e.g. promotion.*)"],
];

function subjectCell(subject) {
  if (!subject) return "";
  return subject.startsWith("mg://") && subject.split("/").length === 5
    ? h("a", { href: links.version(subject) }, subject.replace("mg://", ""))
    : subject;
}

function detailsText(details) {
  return Object.entries(details ?? {})
    .map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join("; ");
}

function row(e) {
  return h(
    "tr",
    { "data-sequence": e.sequence, "data-action": e.action },
    h("td", { class: "muted", title: e.at }, `#${e.sequence} · ${ago(e.at)}`),
    h("td", {}, h("code", {}, e.action)),
    h("td", {}, e.principal),
    h("td", {}, subjectCell(e.subject)),
    h("td", { class: "details" }, detailsText(e.details)),
    h("td", { class: "hash", title: `hash ${e.hash}\nprevious ${e.prevHash ?? "none"}` }, e.hash.slice(0, 12)),
  );
}

/** #/audit?subject=..&principal=..&action=.. */
export async function renderAudit(page, params) {
  const values = Object.fromEntries(FILTERS.map(([name]) => [name, params.get(name) ?? ""]));
  const inputs = FILTERS.map(([name, label]) =>
    h("input", { type: "search", name, value: values[name], "aria-label": label, placeholder: label }),
  );
  const filters = h(
    "form",
    {
      class: "audit-filters",
      onsubmit: (event) => {
        event.preventDefault();
        const query = new URLSearchParams();
        for (const input of inputs) if (input.value.trim()) query.set(input.name, input.value.trim());
        location.hash = `#/audit${query.toString() ? `?${query}` : ""}`;
      },
    },
    inputs,
    h("button", { type: "submit" }, "Filter"),
  );
  const verification = h("p", { class: "verification", role: "status" });
  const body = h("tbody");
  const more = h("button", { type: "button", class: "more", hidden: true }, "Older events");
  const table = h(
    "table",
    { class: "audit" },
    h("thead", {}, h("tr", {}, ["When", "Action", "Principal", "Subject", "Details", "Hash"].map((c) => h("th", {}, c)))),
    body,
  );
  const summary = h("p", { class: "summary" });
  page.append(
    h("header", { class: "page-head" }, h("h1", {}, "Audit log")),
    section("Events", verification, filters, summary, table, more),
  );
  let cursor = null;
  const load = async () => {
    const variables = { first: 50, after: cursor, ...Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v || null])) };
    const { data } = await gql(EVENTS, variables, { quiet: ["FORBIDDEN"] });
    const check = data.auditVerification;
    verification.className = `verification ${check.ok ? "ok" : "broken"}`;
    verification.textContent = check.ok
      ? `Hash chain intact: ${plural(check.events, "event")}, head ${check.headHash ?? "(empty)"}`
      : `Hash chain broken: ${check.problem}`;
    const found = data.auditEvents;
    summary.textContent = plural(found.totalCount, "event");
    body.append(...found.edges.map(({ node }) => row(node)));
    cursor = found.pageInfo.endCursor;
    more.hidden = !found.pageInfo.hasNextPage;
  };
  more.addEventListener("click", () => load());
  try {
    await load();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    page.querySelector(".panel").replaceChildren(
      h("p", { class: "muted" }, `The audit log is not available to you: ${error.message}`),
    );
  }
}

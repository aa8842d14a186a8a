// Governance: promotion requests to decide, and the compliance overview.
import { ApiError, download, gql, surface } from "./api.js";
import { ago, h, links, section, stageBadge } from "./dom.js";

const STATUSES = ["PENDING", "BLOCKED", "FAILED", "APPLIED", "REJECTED"];

const REQUESTS = `query Requests($status: String) {
  promotionRequests(status: $status) {
    id versionUri fromStage targetStage reason status requestedBy createdAt
    requiredApprovals requiredRoles error
    approvals { principal role comment at }
    rejection { principal role comment }
    violations { policy severity message }
  }
}`;

const APPROVE = `mutation Approve($id: ID!, $comment: String) {
  approvePromotion(requestId: $id, comment: $comment) { id status versionUri targetStage requiredApprovals }
}`;

const REJECT = `mutation Reject($id: ID!, $comment: String!) {
  rejectPromotion(requestId: $id, comment: $comment) { id status versionUri targetStage }
}`;

const REPORT = `query Compliance {
  complianceReport {
    generatedAt totalVersions compliantVersions
    byTeam { key versions compliant }
    byPolicy { key versions compliant }
    violations(first: 20) { totalCount edges { node { versionUri policy severity message } } }
  }
}`;

const OPEN = new Set(["PENDING", "FAILED"]);

function roles(request) {
  const done = new Map(request.approvals.map((a) => [a.role, a]));
  return h(
    "ul",
    { class: "roles" },
    request.requiredRoles.map((role) => {
      const approval = done.get(role);
      const text = approval ? `${role} ✓ ${approval.principal}` : `${role} needed`;
      return h("li", { class: approval ? "role done" : "role missing", title: approval?.comment ?? "" }, text);
    }),
  );
}

function requestCard(request, decide) {
  const comment = h("input", { type: "text", placeholder: "Comment (a rejection needs one)", "aria-label": "Comment" });
  const outcome = h("p", { class: "outcome", role: "status" });
  const act = (verb) => () => decide(request, verb, comment.value.trim(), outcome).catch(surface);
  const actions = OPEN.has(request.status)
    ? h(
        "div",
        { class: "actions" },
        comment,
        request.status === "PENDING"
          ? h("button", { type: "button", class: "approve", onclick: act("approve") }, "Approve")
          : null,
        h("button", { type: "button", class: "reject", onclick: act("reject") }, "Reject"),
      )
    : null;
  const violations = request.violations.map((v) =>
    h("li", { class: `severity-${v.severity}` }, `${v.policy}: ${v.message}`),
  );
  const rejection = request.rejection;
  return h(
    "li",
    { class: "request card", "data-request-id": request.id, "data-status": request.status },
    h(
      "div",
      { class: "result-head" },
      h("a", { class: "name", href: links.version(request.versionUri) }, request.versionUri.replace("mg://", "")),
      h("span", { class: "stages" }, stageBadge(request.fromStage), " → ", stageBadge(request.targetStage)),
    ),
    h(
      "p",
      { class: "meta" },
      h("span", {}, `${request.status.toLowerCase()} · requested by ${request.requestedBy} ${ago(request.createdAt)}`),
      request.reason ? h("span", {}, `“${request.reason}”`) : null,
    ),
    roles(request),
    violations.length ? h("ul", { class: "violations" }, violations) : null,
    rejection ? h("p", { class: "bad" }, `Rejected by ${rejection.principal}: ${rejection.comment}`) : null,
    request.error ? h("p", { class: "bad" }, `Write-through failed: ${request.error}`) : null,
    actions,
    outcome,
  );
}

function groupTable(title, column, groups) {
  const rows = groups.map((g) => {
    const share = g.versions ? g.compliant / g.versions : 1;
    const bar = h("span", { class: "bar-fill" });
    bar.style.width = `${Math.round(share * 100)}%`;
    return h(
      "tr",
      { "data-key": g.key },
      h("th", { scope: "row" }, g.key),
      h("td", {}, `${g.compliant} / ${g.versions}`),
      h("td", { class: "bar-cell" }, h("span", { class: `bar${share < 1 ? " partial" : ""}` }, bar)),
    );
  });
  return h(
    "table",
    { class: "compliance" },
    h("caption", {}, title),
    h("thead", {}, h("tr", {}, h("th", {}, column), h("th", {}, "Compliant"), h("th", {}, ""))),
    h("tbody", {}, rows),
  );
}

async function renderCompliance(slot) {
  const button = h("button", { type: "button", class: "download" }, "Download CSV");
  const save = () => download("reports/compliance.csv", "compliance-violations.csv").catch(surface);
  button.addEventListener("click", save);
  try {
    // Most people hold no audit role: say so here rather than in the error banner.
    const report = (await gql(REPORT, {}, { quiet: ["FORBIDDEN"] })).data.complianceReport;
    const violations = report.violations.edges.map(({ node: v }) =>
      h(
        "li",
        { class: `severity-${v.severity}` },
        h("a", { href: links.version(v.versionUri) }, v.versionUri.replace("mg://", "")),
        ` ${v.policy}: ${v.message}`,
      ),
    );
    slot.replaceChildren(
      h(
        "p",
        { class: "lead" },
        `${report.compliantVersions} of ${report.totalVersions} versions comply with every error-severity policy. `,
        button,
      ),
      h(
        "div",
        { class: "columns" },
        groupTable("By team", "Team", report.byTeam),
        groupTable("By policy", "Policy", report.byPolicy),
      ),
      h("h3", {}, `Violations (${report.violations.totalCount})`),
      violations.length ? h("ul", { class: "violations" }, violations) : h("p", { class: "muted" }, "None."),
    );
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    slot.replaceChildren(h("p", { class: "muted" }, `The compliance report is not available to you: ${error.message}`));
  }
}

/** #/governance?status=PENDING */
export async function renderGovernance(page, params) {
  const status = STATUSES.includes(params.get("status")) ? params.get("status") : "PENDING";
  const picker = h(
    "select",
    { "aria-label": "Status", onchange: (e) => (location.hash = `#/governance?status=${e.target.value}`) },
    STATUSES.map((s) => h("option", { value: s, selected: s === status }, s.toLowerCase())),
  );
  const notice = h("p", { class: "notice-line", role: "status" });
  const list = h("ol", { class: "requests" });
  const compliance = h("div", {}, h("p", { class: "muted" }, "Loading…"));

  const loadRequests = async () => {
    const found = (await gql(REQUESTS, { status })).data.promotionRequests;
    list.replaceChildren(...found.map((r) => requestCard(r, decide)));
    if (!found.length) list.append(h("li", { class: "empty" }, `No ${status.toLowerCase()} promotion requests.`));
    // A link from elsewhere (a rollout's promotion) names one request: point it out.
    const named = [...list.children].find((li) => li.dataset.requestId === params.get("request"));
    if (named) {
      named.classList.add("highlight");
      named.scrollIntoView({ block: "center" });
    }
  };
  async function decide(request, verb, comment, outcome) {
    if (verb === "reject" && !comment) {
      outcome.textContent = "Say why in the comment: a rejection needs one.";
      return;
    }
    try {
      const { data } = await gql(verb === "approve" ? APPROVE : REJECT, { id: request.id, comment: comment || null });
      const done = data.approvePromotion ?? data.rejectPromotion;
      notice.textContent = `${done.versionUri} → ${done.targetStage}: ${done.status}`;
      await loadRequests();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      outcome.textContent = error.errors.map((e) => `${e.extensions?.code ?? "ERROR"}: ${e.message}`).join("; ");
    }
  }

  page.append(
    h("header", { class: "page-head" }, h("h1", {}, "Governance")),
    section("Promotion requests", h("p", {}, h("label", {}, "Show ", picker)), notice, list),
    section("Compliance", compliance),
  );
  await Promise.all([loadRequests(), renderCompliance(compliance)]);
}

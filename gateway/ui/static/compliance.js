// Compliance: the inventory by risk tier, overdue reviews, compliance over time (the
// audit log's as-of series), each production version's evidence pack and, for a
// high-risk model, its Article 12 log.
import { download, gql, surface } from "./api.js";
import { h, links, plural, section, svg, versionLabel } from "./dom.js";

const INVENTORY = `query Inventory {
  complianceInventory {
    generatedAt totalModels
    byTier { tier models overdue nonCompliant }
    items {
      modelUri name registry ownerTeam riskTier { tier source } productionVersion
      servesAt { endpoint } lastApproval { principal role at } complianceState
      violations { policy severity message } nextReviewDue reviewOverdue evidenceUrl annexIVGaps
    }
  }
}`;

const POINTS = 8; // points of the compliance-over-time chart

/** One query, one aliased as-of report per point: the chart's series. */
function historyQuery(times) {
  const fields = times.map((t, i) => `p${i}: complianceReport(asOf: "${t}") { totalVersions compliantVersions }`);
  return `query History { ${fields.join(" ")} }`;
}

function day(iso) {
  return iso ? iso.slice(0, 10) : "—";
}

/** What this installation can render (PDF evidence packs need the `reports` extra and
 * Pango); unknown counts as available, so the server's own error still explains. */
async function capabilities() {
  const response = await fetch("ui/capabilities.json").catch(() => null);
  if (!response || !response.ok) return { evidencePdf: { available: true, reason: null } };
  return response.json();
}

function pdfLink(item, fetchPack, pdf) {
  if (!pdf.available) {
    return h("span", { class: "muted", "data-evidence": "pdf-unavailable", title: pdf.reason ?? "" }, "PDF needs pip install 'modelgate[reports]'");
  }
  return h("a", { href: `${item.evidenceUrl.slice(1)}&format=pdf`, "data-evidence": "pdf", onclick: fetchPack("pdf") }, "PDF");
}

function evidenceLinks(item, pdf) {
  if (!item.evidenceUrl) return h("span", { class: "muted" }, "no production version");
  const name = `evidence-${item.name}`;
  const fetchPack = (format) => (event) => {
    event.preventDefault();
    download(`${item.evidenceUrl.slice(1)}&format=${format}`, `${name}.${format}`).catch(surface);
  };
  return h(
    "span",
    { class: "evidence" },
    h("a", { href: `${item.evidenceUrl.slice(1)}&format=html`, "data-evidence": "html", onclick: fetchPack("html") }, "HTML"),
    " · ",
    pdfLink(item, fetchPack, pdf),
    item.riskTier.tier === "high" ? [" · ", article12Link(item)] : null,
  );
}

/** A high-risk model's Article 12 log: its audit events (all its versions) as JSON
 * Lines, ending with the server's verification of the whole chain. */
function article12Link(item) {
  const path = `audit/export.jsonl?subject=${encodeURIComponent(item.modelUri)}&verify=true`;
  const fetchLog = (event) => {
    event.preventDefault();
    download(path, `article-12-log-${item.name}.jsonl`).catch(surface);
  };
  return h("a", { href: path, "data-article12": item.modelUri, title: "Audit log of this model, with the chain's verification", onclick: fetchLog }, "Article 12 log");
}

function tierTable(byTier) {
  return h(
    "table",
    { class: "tiers", "data-testid": "tiers" },
    h("thead", {}, h("tr", {}, ["Tier", "Models", "Overdue reviews", "Non-compliant"].map((c) => h("th", {}, c)))),
    h(
      "tbody",
      {},
      byTier.map((t) =>
        h(
          "tr",
          { "data-tier": t.tier ?? "" },
          h("td", {}, t.tier ?? "(none)"),
          h("td", {}, String(t.models)),
          h("td", {}, String(t.overdue)),
          h("td", {}, String(t.nonCompliant)),
        ),
      ),
    ),
  );
}

/** The production version's Annex IV gap count; marked where the law asks for the
 * documentation (the high tier) and facts are missing. */
function annexGaps(item) {
  if (item.annexIVGaps === null || item.annexIVGaps === undefined) return h("td", { class: "muted", "data-annex-gaps": "" }, "—");
  const high = item.riskTier.tier === "high" && item.annexIVGaps > 0;
  return h(
    "td",
    { class: high ? "annex-gaps high" : "annex-gaps", "data-annex-gaps": String(item.annexIVGaps), title: "ModelVersion.annexIV: facts the nine sections lack" },
    String(item.annexIVGaps),
  );
}

/** A download link that fetches with the page's credentials. */
function downloadLink(path, name, text) {
  return h("a", { href: path, onclick: (e) => { e.preventDefault(); download(path, name).catch(surface); } }, text);
}

function inventoryTable(items, pdf) {
  const head = ["Model", "Team", "Registry", "Tier", "Production", "Last approval", "State", "Next review", "Annex IV gaps", "Evidence"];
  return h(
    "table",
    { class: "inventory", "data-testid": "inventory" },
    h("thead", {}, h("tr", {}, head.map((c) => h("th", {}, c)))),
    h(
      "tbody",
      {},
      items.map((i) =>
        h(
          "tr",
          { "data-model": i.modelUri, "data-state": i.complianceState },
          h("td", {}, h("a", { href: links.model(i.modelUri) }, i.name)),
          h("td", {}, i.ownerTeam ?? "—"),
          h("td", {}, i.registry),
          h("td", { title: i.riskTier.source }, `${i.riskTier.tier ?? "—"}${i.riskTier.source === "override" ? " (override)" : ""}`),
          h(
            "td",
            {},
            i.productionVersion
              ? h("a", { href: links.version(i.productionVersion) }, versionLabel(i.productionVersion.split("/").pop()))
              : "—",
            i.servesAt.length ? h("span", { class: "muted" }, ` at ${i.servesAt.map((d) => d.endpoint).join(", ")}`) : null,
          ),
          h("td", {}, i.lastApproval ? `${i.lastApproval.principal} (${i.lastApproval.role}) ${day(i.lastApproval.at)}` : "—"),
          h("td", { class: `state state-${i.complianceState.toLowerCase()}` }, i.complianceState.replace("_", " ")),
          h("td", { class: i.reviewOverdue ? "overdue" : "" }, day(i.nextReviewDue), i.reviewOverdue ? " overdue" : ""),
          annexGaps(i),
          h("td", {}, evidenceLinks(i, pdf)),
        ),
      ),
    ),
  );
}

function overdueList(items) {
  const overdue = items.filter((i) => i.reviewOverdue);
  if (!overdue.length) return h("p", { class: "empty", "data-testid": "overdue" }, "No review is overdue.");
  return h(
    "ul",
    { class: "overdue-list", "data-testid": "overdue" },
    overdue.map((i) => {
      const finding = i.violations.find((v) => v.policy === "modelgate.review-overdue");
      return h(
        "li",
        { class: `severity-${finding?.severity ?? "warning"}` },
        h("a", { href: links.version(i.productionVersion) }, i.productionVersion.replace("mg://", "")),
        ` (${i.riskTier.tier}): due ${day(i.nextReviewDue)} — ${finding?.severity ?? "warning"}`,
      );
    }),
  );
}

/** A line chart of the compliant share of versions over time, as SVG. */
function chart(series) {
  const width = 560, height = 160, pad = 28;
  const x = (i) => pad + (i * (width - 2 * pad)) / Math.max(series.length - 1, 1);
  const y = (share) => height - pad - share * (height - 2 * pad);
  const points = series.map((p, i) => [x(i), y(p.total ? p.compliant / p.total : 1)]);
  return svg(
    "svg",
    { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Compliance over time", "data-testid": "chart" },
    svg("line", { x1: pad, y1: y(0), x2: width - pad, y2: y(0), stroke: "#99a" }),
    svg("line", { x1: pad, y1: y(1), x2: width - pad, y2: y(1), stroke: "#dde", "stroke-dasharray": "3 3" }),
    svg("text", { x: 2, y: y(1) + 4, "font-size": 10 }, "100%"),
    svg("text", { x: 8, y: y(0) + 4, "font-size": 10 }, "0%"),
    svg("polyline", {
      points: points.filter((_, i) => series[i].total).map((p) => p.join(",")).join(" "),
      fill: "none",
      stroke: "#2763b8",
      "stroke-width": 2,
    }),
    series.map((p, i) =>
      svg(
        "circle",
        { cx: points[i][0], cy: points[i][1], r: 3.5, fill: p.total ? "#2763b8" : "#fff", stroke: "#2763b8", "data-point": i },
        svg("title", {}, p.total ? `${p.at}: ${p.compliant} of ${p.total} versions compliant` : `${p.at}: no versions recorded yet`),
      ),
    ),
    series.map((p, i) => svg("text", { x: points[i][0] - 14, y: height - 8, "font-size": 9 }, p.at.slice(5, 16).replace("T", " "))),
  );
}

async function renderHistory(into, since) {
  const start = new Date(since).getTime();
  const end = Date.now();
  const times = Array.from({ length: POINTS }, (_, i) => new Date(start + ((end - start) * i) / (POINTS - 1)).toISOString());
  const { data } = await gql(historyQuery(times));
  const series = times.map((at, i) => ({ at, total: data[`p${i}`].totalVersions, compliant: data[`p${i}`].compliantVersions }));
  into.replaceChildren(chart(series));
}

/** #/compliance */
export async function renderCompliance(page) {
  const history = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const [{ data }, caps] = await Promise.all([gql(INVENTORY), capabilities()]);
  const inv = data.complianceInventory;
  page.append(
    h("header", { class: "page-head" }, h("h1", {}, "Compliance"), h("p", { class: "muted" }, `${plural(inv.totalModels, "model")} · generated ${inv.generatedAt.slice(0, 19).replace("T", " ")}`)),
    section("Inventory by risk tier", tierTable(inv.byTier)),
    section("Overdue reviews", overdueList(inv.items)),
    section("Compliance over time", history),
    section(
      "Inventory",
      h(
        "p",
        {},
        h("a", { href: "reports/inventory?format=csv", onclick: (e) => { e.preventDefault(); download("reports/inventory?format=csv", "compliance-inventory.csv").catch(surface); } }, "Download CSV"),
        " · ",
        h("a", { href: "reports/inventory?format=json", onclick: (e) => { e.preventDefault(); download("reports/inventory?format=json", "compliance-inventory.json").catch(surface); } }, "JSON"),
        " · AI BOM of every production version: ",
        downloadLink("bom?format=cyclonedx", "inventory.cdx.json", "CycloneDX"),
        " · ",
        downloadLink("bom?format=spdx", "inventory.spdx.json", "SPDX"),
      ),
      inventoryTable(inv.items, caps.evidencePdf),
    ),
  );
  // The series spans the last week: the audit log rebuilds each point.
  await renderHistory(history, new Date(Date.now() - 7 * 86400 * 1000).toISOString());
}

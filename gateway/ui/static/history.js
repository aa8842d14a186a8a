// Training curves: how a version's metrics moved per step, read live from its
// registry (MLflow's metric history). Drawn only where the registry keeps history.
import { ApiError, gql } from "./api.js";
import { h, section, svg } from "./dom.js";

const HISTORY = `query MetricHistory($uri: String!) {
  modelVersion(uri: $uri) { metricHistory(limit: 500) { key points { step value } } }
}`;

const WIDTH = 220;
const HEIGHT = 56;
const PAD = 4;

/** One series as a small line chart with its first, best-looking and last values said in text. */
function curve(series) {
  const { points } = series;
  const steps = points.map((p) => p.step);
  const values = points.map((p) => p.value);
  const [x0, x1] = [Math.min(...steps), Math.max(...steps)];
  const [y0, y1] = [Math.min(...values), Math.max(...values)];
  const x = (s) => PAD + ((s - x0) / (x1 - x0 || 1)) * (WIDTH - 2 * PAD);
  const y = (v) => HEIGHT - PAD - ((v - y0) / (y1 - y0 || 1)) * (HEIGHT - 2 * PAD);
  const line = points.map((p) => `${x(p.step).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
  const last = points[points.length - 1];
  const summary = `${series.key}: ${points[0].value} at step ${points[0].step} → ${last.value} at step ${last.step}`;
  return h(
    "figure",
    { class: "curve", "data-metric": series.key },
    svg(
      "svg",
      { class: "sparkline", viewBox: `0 0 ${WIDTH} ${HEIGHT}`, width: WIDTH, height: HEIGHT, role: "img", "aria-label": summary },
      svg("polyline", { points: line, fill: "none" }),
      svg("circle", { cx: x(last.step), cy: y(last.value), r: 2.5 }),
    ),
    h(
      "figcaption",
      {},
      h("strong", {}, series.key),
      ` ${last.value}`,
      h("span", { class: "muted" }, ` · ${points.length} steps, ${y0}–${y1}`),
    ),
  );
}

/** The panel, filled once the registry answers; nothing at all where it keeps no history. */
export function trainingCurves(uri) {
  const body = h("div", { class: "curves", "aria-busy": "true" }, h("p", { class: "muted" }, "Reading metric history…"));
  const panel = section("Training curves", body);
  panel.hidden = true;
  const load = async () => {
    try {
      const { data, warnings } = await gql(HISTORY, { uri });
      if (data.modelVersion?.metricHistory == null && warnings.length) {
        body.replaceChildren(h("p", { class: "bad" }, `Metric history unavailable: ${warnings[0].message}`));
        panel.hidden = false;
        return;
      }
      const series = (data.modelVersion?.metricHistory ?? []).filter((s) => s.points.length > 1);
      if (!series.length) return; // a single value per metric is already in the record
      body.replaceChildren(...series.map(curve));
      panel.hidden = false;
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      body.replaceChildren(h("p", { class: "bad" }, `Metric history unavailable: ${error.message}`));
      panel.hidden = false;
    } finally {
      body.removeAttribute("aria-busy");
    }
  };
  return { panel, load };
}

// Forecasts & pricing: a forecast drawn as SVG (its band, the median, what is on the books) with
// the values as a table too; published prices with their reasons; approve / override (ml:write).
import { h, fill, table } from "../js/dom.js";
import { badge, reasonOf } from "./lib-b.js";

const SVG = "http://www.w3.org/2000/svg";
const W = 640, H = 240, PAD = { l: 48, r: 12, t: 12, b: 28 };

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

/** The chart: x = nights, y = the target's unit; band = [lower, upper], line = median. */
export function chart(points, { label, format, valueOf }) {
  const lo = Math.min(0, ...points.map((p) => p.lower_bound));
  const hi = Math.max(...points.map((p) => p.upper_bound), ...points.map(valueOf)) || 1;
  const x = (i) => PAD.l + (points.length < 2 ? 0 : (i * (W - PAD.l - PAD.r)) / (points.length - 1));
  const y = (v) => H - PAD.b - ((v - lo) * (H - PAD.t - PAD.b)) / (hi - lo || 1);
  const path = (vals) => vals.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  const band = [...points.map((p, i) => `${x(i).toFixed(1)},${y(p.upper_bound).toFixed(1)}`),
    ...points.map((p, i) => [i, p]).reverse().map(([i, p]) => `${x(i).toFixed(1)},${y(p.lower_bound).toFixed(1)}`)].join(" ");
  const ticks = [lo, (lo + hi) / 2, hi];
  const every = Math.max(1, Math.ceil(points.length / 7));
  return svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label },
    svg("title", {}, label),
    ...ticks.map((v) => svg("line", { class: "axis", x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v) })),
    ...ticks.map((v) => svg("text", { x: PAD.l - 4, y: y(v) + 4, "text-anchor": "end" }, format(v))),
    svg("polygon", { class: "band", points: band }),
    svg("path", { class: "books", d: path(points.map((p) => p.on_the_books)) }),
    svg("path", { class: "line", d: path(points.map(valueOf)) }),
    ...points.map((p, i) => (i % every ? null : svg("text", { x: x(i), y: H - 8, "text-anchor": "middle" }, p.date.slice(5)))).filter(Boolean));
}

export async function init(ctx) {
  const { api, t, fmt, root } = ctx;
  let currency = "VND";
  const form = root.querySelector("#forecast-form");

  async function loadForecast() {
    const target = form.elements.target.value;
    const days = Number(form.elements.forecast_days.value);
    const out = root.querySelector("#forecast-chart");
    let result;
    try {
      result = await api(`/api/v1/ml/forecast/${target}`, { method: "POST", json: { forecast_days: days, room_type: "all" } });
    } catch (error) {
      fill(out, h("p", { class: "notice" }, t("forecasts.unavailable", { reason: reasonOf(error) })));
      return;
    }
    const revenue = target === "revenue";
    if (revenue && result.unit) currency = result.unit;
    const valueOf = (p) => (revenue ? p.predicted_revenue : p.predicted_occupancy) ?? p.predicted_value;
    const format = (v) => (revenue ? fmt.currency(v, currency) : fmt.percent(v));
    const label = t("forecasts.chart_label", { target: t(`forecasts.${target}`), n: result.forecasts.length, p: fmt.percent(result.interval) });
    fill(out,
      h("div", { class: "chart" }, chart(result.forecasts, { label, format, valueOf })),
      h("p", { class: "sub" }, badge("info", t("forecasts.median")), " ", badge("muted", t("forecasts.band")), " ", badge("muted", t("forecasts.books"))),
      h("details", {}, h("summary", {}, t("forecasts.table_label")), table([
        { key: "date", label: t("forecasts.date"), render: (p) => fmt.day(p.date) },
        { key: "value", label: t("forecasts.median"), render: (p) => format(valueOf(p)) },
        { key: "lower_bound", label: t("forecasts.low"), render: (p) => format(p.lower_bound) },
        { key: "upper_bound", label: t("forecasts.high"), render: (p) => format(p.upper_bound) },
      ], result.forecasts)));
  }

  function reasonText(r) {
    const value = typeof r.value === "number"
      ? (r.code.startsWith("price_") ? fmt.percent(Math.abs(r.value)) : fmt.percent(r.value))
      : r.value;
    return t(`forecasts.r_${r.code}`, { v: value });
  }

  async function decide(row, decision, price) {
    const status = root.querySelector("#prices-status");
    try {
      const json = { room_type: row.room_type, date: row.date, decision, recommended_price: row.price };
      if (decision === "override") json.price = price;
      const saved = await api("/console/api/forecasts/decisions", { method: "POST", json });
      status.textContent = t("forecasts.decided", { rt: saved.room_type, d: fmt.day(saved.date), p: fmt.currency(saved.price, currency) });
      await loadPrices();
    } catch (error) {
      status.textContent = error.errors?.map((e) => `${e.field}: ${e.reason}`).join("; ") || reasonOf(error);
    }
  }

  function actions(row) {
    if (!ctx.allowed("ml:write")) return "—";
    const id = `override-${row.room_type}-${row.date}`;
    const input = h("input", { id, type: "number", min: "1", step: "1000", inputmode: "numeric", value: String(Math.round(row.price)) });
    return h("div", { class: "price-override" },
      h("button", { type: "button", class: "button", onclick: () => decide(row, "approve") }, t("forecasts.approve")),
      h("label", { for: id, class: "sr-only" }, t("forecasts.override_price", { rt: row.room_type, d: fmt.day(row.date) })),
      input,
      h("button", { type: "button", class: "button secondary", onclick: () => decide(row, "override", Number(input.value)) }, t("forecasts.override")));
  }

  async function loadPrices() {
    const prices = await api("/console/api/forecasts/prices");
    const source = (r) => (r.source === "manual" ? badge("ok", t(`forecasts.src_${r.decision}`)) : badge("info", t("forecasts.src_pricing")));
    fill(root.querySelector("#prices-table"), table([
      { key: "date", label: t("forecasts.date"), render: (r) => fmt.day(r.date) },
      { key: "room_type", label: t("forecasts.room_type") },
      { key: "price", label: t("forecasts.price"), render: (r) => fmt.currency(r.price, currency) },
      { key: "source", label: t("forecasts.source"), render: source },
      { key: "reasons", label: t("forecasts.reasons"), render: (r) => r.reasons.map(reasonText).join(" · ") || "—" },
      { key: "actions", label: t("forecasts.actions"), render: actions },
    ], prices.items, { empty: t("forecasts.no_prices") }));
  }

  const recommend = root.querySelector("#prices-recommend");
  recommend.hidden = !ctx.allowed("ml:write");
  recommend.addEventListener("click", async () => {
    const status = root.querySelector("#prices-status");
    status.textContent = t("forecasts.recommending");
    recommend.disabled = true;
    try {
      const start = fmt.hotelToday();
      const end = new Date(Date.parse(`${start}T00:00:00Z`) + 13 * 86400000).toISOString().slice(0, 10);
      const schedule = await api("/api/v1/ml/pricing/optimize", { method: "POST", json: { date_range: { start, end } } });
      if (schedule.currency) currency = schedule.currency;
      status.textContent = "";
      await loadPrices();
    } catch (error) {
      status.textContent = reasonOf(error);
    } finally {
      recommend.disabled = false;
    }
  });
  form.addEventListener("submit", (event) => { event.preventDefault(); loadForecast(); });
  await Promise.all([loadForecast(), loadPrices()]);
}

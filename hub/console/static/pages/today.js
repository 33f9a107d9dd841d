// Today: one request (/console/api/today), refreshed every 30 s while the tab is visible.
import { fill, h } from "../js/dom.js";

const REFRESH_MS = 30_000;

function render(ctx, d) {
  const { t, fmt } = ctx;
  const $ = (id) => ctx.root.querySelector(`#${id}`);
  $("today-date").textContent = t("today.as_of", { date: fmt.day(d.date), time: fmt.time(d.generated_at) });
  $("today-occupancy").textContent = d.rooms ? fmt.percent(d.occupied_tonight / d.rooms) : "—";
  $("today-occupancy-sub").textContent = t("today.rooms_occupied", { n: fmt.number(d.occupied_tonight), total: fmt.number(d.rooms) });
  const booking = (b) => h("li", {}, `${b.booking_ref}${b.room_number ? ` · ${t("today.room")} ${b.room_number}` : ""} · ${t(`today.booking_${b.status}`)}`);
  $("today-arrivals").textContent = fmt.number(d.arrivals.length);
  fill($("today-arrivals-list"), d.arrivals.slice(0, 5).map(booking));
  $("today-departures").textContent = fmt.number(d.departures.length);
  fill($("today-departures-list"), d.departures.slice(0, 5).map(booking));
  $("today-alerts").textContent = fmt.number(d.alerts_open);
  fill($("today-alerts-list"), d.latest_alerts.map((a) => h("li", {},
    h("span", { class: `badge ${a.severity === "critical" ? "bad" : "warn"}` }, t(`alerts.severity_${a.severity}`)), " ",
    `${t(`alerts.hazard_${a.hazard}`)} · ${a.location} · ${fmt.time(a.detected_at)}`)));
  $("today-staff").textContent = fmt.number(d.on_shift.length);
  fill($("today-staff-list"), d.on_shift.slice(0, 8).map((s) => h("li", {}, `${s.name || s.employee_id} · ${t("today.since", { time: fmt.time(s.since) })}${s.status === "late" ? ` · ${t("attendance.state_late")}` : ""}`)));
  const healthy = d.devices.filter((x) => x.health === "online").length;
  $("today-fleet").textContent = d.devices.length ? `${fmt.number(healthy)}/${fmt.number(d.devices.length)}` : "—";
  fill($("today-fleet-list"), d.devices.map((x) => h("li", {},
    h("span", { class: `badge ${x.health === "online" ? "ok" : "bad"}` }, t(`devices.health_${x.health}`)), ` ${x.device_id} · ${fmt.ago(x.last_seen)}`)));
  $("today-events").textContent = t("today.events_24h", { n: fmt.number(d.events_24h) });
}

export async function init(ctx) {
  render(ctx, await ctx.api("/console/api/today"));
  setInterval(async () => {
    if (document.visibilityState !== "visible") return;
    try { render(ctx, await ctx.api("/console/api/today")); } catch { /* the next tick retries */ }
  }, REFRESH_MS);
}

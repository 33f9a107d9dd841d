// Devices: each edge's status, heartbeat, cameras (fps), outbox depth, gallery version, models.
import { fill, h, table } from "../js/dom.js";

const STATUS_CLASS = { online: "ok", offline: "bad", stopped: "muted", unknown: "muted" };
const REFRESH_MS = 15_000;

const PROVISIONING_CLASS = { enrolled: "ok", revoked: "bad", not_enrolled: "warn" };

async function load(ctx) {
  const [devices, provisioning] = await Promise.all([
    ctx.api("/api/v1/devices"),
    ctx.api("/console/api/devices/provisioning"),
  ]);
  const states = new Map(provisioning.items.map((p) => [p.device_id, p]));
  render(ctx, devices.items.map((d) => ({ ...d, provisioning: states.get(d.device_id) })));
}

function render(ctx, devices) {
  const { t, fmt } = ctx;
  const online = devices.filter((d) => d.status === "online").length;
  ctx.root.querySelector("#devices-summary").textContent = t("devices.summary", { online: fmt.number(online), total: fmt.number(devices.length) });
  const beat = (d) => d.last_heartbeat || {};
  const columns = [
    { label: t("devices.device"), render: (d) => h("strong", {}, d.device_id) },
    { label: t("devices.status"), render: (d) => h("span", { class: `badge ${STATUS_CLASS[d.status] || "muted"}` }, t(`devices.status_${d.status}`)) },
    { label: t("devices.provisioning"), render: (d) => (d.provisioning ? h("span", { class: `badge ${PROVISIONING_CLASS[d.provisioning.state]}`, title: d.provisioning.enrolled_at ? fmt.dateTime(d.provisioning.enrolled_at) : null }, t(`devices.provisioning_${d.provisioning.state}`)) : "—") },
    { label: t("devices.last_seen"), render: (d) => (d.last_seen ? h("time", { datetime: d.last_seen, title: fmt.dateTime(d.last_seen) }, fmt.ago(d.last_seen)) : t("shell.never")) },
    { label: t("devices.cameras"), render: (d) => {
      const cams = Object.entries(beat(d).cameras || {});
      return cams.length ? h("ul", {}, cams.map(([id, c]) => h("li", {}, `${id}: ${fmt.number(c.fps, 1)} fps${c.connected === false ? ` · ${t("devices.camera_down")}` : ""}`))) : "—";
    } },
    { label: t("devices.outbox"), render: (d) => (beat(d).outbox_depth != null ? fmt.number(beat(d).outbox_depth) : "—") },
    { label: t("devices.gallery"), render: (d) => (d.gallery_version != null ? `v${d.gallery_version}` : "—") },
    { label: t("devices.models"), render: (d) => {
      const models = Object.entries(beat(d).models || {});
      return models.length ? h("ul", {}, models.map(([role, id]) => h("li", {}, `${role}: ${id}`))) : "—";
    } },
    { label: t("devices.version"), render: (d) => beat(d).version || "—" },
    { label: t("devices.missing"), render: (d) => (d.missing ? h("span", { class: "badge warn" }, fmt.number(d.missing)) : "0") },
  ];
  fill(ctx.root.querySelector("#devices-root"), table(columns, devices, { caption: t("devices.caption"), empty: t("devices.empty") }));
}

export async function init(ctx) {
  await load(ctx);
  setInterval(async () => {
    if (document.visibilityState !== "visible") return;
    try { await load(ctx); } catch { /* retried next tick */ }
  }, REFRESH_MS);
}

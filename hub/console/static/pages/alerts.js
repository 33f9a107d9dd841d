// Alerts inbox: a live list (server-sent events over fetch), actions on each alert, optional
// sound and desktop notifications (opt-in, remembered in this browser).
import { imageUrl, streamEvents } from "../js/api.js";
import { fill, h } from "../js/dom.js";
import { showErrors } from "../js/forms.js";

const alerts = new Map();
const snapshots = new Map(); // alert id -> Promise of a blob URL (fetched once)
const SEVERITY_CLASS = { critical: "bad", high: "warn", medium: "info", low: "muted" };
const STATUS_CLASS = { open: "bad", acknowledged: "warn", resolved: "ok", false_alarm: "muted" };
const PREFS = "innsight.console.alerts";

function prefs() {
  try { return JSON.parse(localStorage.getItem(PREFS) || "{}"); } catch { return {}; }
}

function beep() {
  const audio = new AudioContext();
  const tone = audio.createOscillator();
  const gain = audio.createGain();
  tone.frequency.value = 880;
  gain.gain.value = 0.15;
  tone.connect(gain).connect(audio.destination);
  tone.start();
  tone.stop(audio.currentTime + 0.35);
}

function announce(ctx, alert) {
  const p = prefs();
  if (p.sound) { try { beep(); } catch { /* no audio device */ } }
  if (p.desktop && "Notification" in window && Notification.permission === "granted") {
    new Notification(ctx.t("alerts.notification_title", { hazard: ctx.t(`alerts.hazard_${alert.hazard}`) }), {
      body: `${alert.location} · ${ctx.fmt.time(alert.detected_at)}`, tag: `alert-${alert.id}`,
    });
  }
}

function actionForm(ctx, alert) {
  const { t } = ctx;
  const idBase = `alert-${alert.id}`;
  const form = h("form", { class: "actions", "aria-label": t("alerts.actions_for", { id: alert.id }) });
  const send = async (action, extra = {}) => {
    try {
      const updated = await ctx.api(`/console/api/alerts/${alert.id}/actions`, { method: "POST", json: { action, ...extra } });
      upsert(ctx, updated, false);
    } catch (error) {
      showErrors(form, error);
    }
  };
  const closed = alert.status === "resolved" || alert.status === "false_alarm";
  if (!closed) {
    if (alert.status === "open") form.append(h("button", { type: "button", class: "button", onclick: () => send("acknowledge") }, t("alerts.acknowledge")));
    const assignee = h("input", { id: `${idBase}-assignee`, name: "assignee", maxlength: 128, placeholder: t("alerts.assignee"), value: alert.assigned_to || "", "aria-describedby": `${idBase}-assignee-error` });
    form.append(
      h("span", { class: "field inline" }, h("label", { for: `${idBase}-assignee`, class: "sr-only" }, t("alerts.assignee")), assignee),
      h("button", { type: "button", class: "button secondary", onclick: () => send("assign", { assignee: assignee.value.trim() || null }) }, t("alerts.assign")),
      h("button", { type: "button", class: "button secondary", onclick: () => send("resolve") }, t("alerts.resolve")),
      h("button", { type: "button", class: "button secondary", onclick: () => send("false_alarm") }, t("alerts.false_alarm")),
    );
  } else {
    form.append(h("button", { type: "button", class: "button secondary", onclick: () => send("reopen") }, t("alerts.reopen")));
  }
  form.append(h("p", { class: "field-error", id: `${idBase}-assignee-error`, "data-error-for": "assignee" }), h("p", { class: "form-error", "data-error-for": "_form" }));
  return form;
}

function item(ctx, alert) {
  const { t, fmt } = ctx;
  const img = h("img", { alt: t("alerts.snapshot_of", { hazard: t(`alerts.hazard_${alert.hazard}`), camera: alert.camera_id || alert.location }), hidden: !alert.has_snapshot });
  if (alert.has_snapshot) {
    if (!snapshots.has(alert.id)) snapshots.set(alert.id, imageUrl(`/console/api/alerts/${alert.id}/snapshot`));
    snapshots.get(alert.id).then((url) => { img.src = url; }).catch(() => { img.hidden = true; });
  }
  return h("li", { class: "alert-item", id: `alert-${alert.id}`, dataset: { severity: alert.severity, status: alert.status, hazard: alert.hazard } },
    alert.has_snapshot ? img : h("div", { "aria-hidden": "true" }),
    h("div", {},
      h("h2", {}, `${t(`alerts.hazard_${alert.hazard}`)} · ${alert.location}`),
      h("p", {},
        h("span", { class: `badge ${SEVERITY_CLASS[alert.severity] || "muted"}` }, t(`alerts.severity_${alert.severity}`)), " ",
        h("span", { class: `badge ${STATUS_CLASS[alert.status] || "muted"}`, "data-role": "status" }, t(`alerts.status_${alert.status}`))),
      h("p", { class: "meta" },
        [alert.camera_id && `${t("alerts.camera")}: ${alert.camera_id}`,
         alert.zone && `${t("alerts.zone")}: ${alert.zone}`,
         alert.score != null && `${t("alerts.score")}: ${fmt.percent(alert.score)}`,
         `${fmt.dateTime(alert.detected_at)} (${fmt.ago(alert.detected_at)})`,
         alert.assigned_to && `${t("alerts.assigned_to")}: ${alert.assigned_to}`].filter(Boolean).join(" · ")),
      actionForm(ctx, alert)));
}

let listEl;
let filterEl;

function render(ctx) {
  const showAll = filterEl.value === "all";
  const visible = [...alerts.values()]
    .filter((a) => showAll || (a.status !== "resolved" && a.status !== "false_alarm"))
    .sort((a, b) => b.id - a.id);
  fill(listEl, visible.map((a) => item(ctx, a)));
  ctx.root.querySelector("#alerts-empty").hidden = visible.length > 0;
}

function upsert(ctx, alert, live) {
  const known = alerts.has(alert.id);
  alerts.set(alert.id, alert);
  if (live && !known) announce(ctx, alert);
  render(ctx);
}

async function connect(ctx, live) {
  for (;;) {
    try {
      await streamEvents("/console/api/alerts/stream", (name, data) => {
        if (name === "snapshot") {
          for (const a of data) alerts.set(a.id, a);
          render(ctx);
          live.textContent = ctx.t("alerts.live");
          live.className = "badge ok";
          live.dataset.state = "live";
        } else if (name === "alert") {
          upsert(ctx, data, true);
        }
      });
    } catch (error) {
      if (error?.status === 401) return;
    }
    live.textContent = ctx.t("alerts.reconnecting");
    live.className = "badge warn";
    live.dataset.state = "reconnecting";
    await new Promise((resolve) => setTimeout(resolve, 3000));
  }
}

export async function init(ctx) {
  listEl = ctx.root.querySelector("#alerts-list");
  filterEl = ctx.root.querySelector("#alerts-filter");
  filterEl.addEventListener("change", () => render(ctx));
  const sound = ctx.root.querySelector("#alerts-sound");
  const desktop = ctx.root.querySelector("#alerts-desktop");
  const p = prefs();
  sound.checked = Boolean(p.sound);
  desktop.checked = Boolean(p.desktop);
  const save = () => localStorage.setItem(PREFS, JSON.stringify({ sound: sound.checked, desktop: desktop.checked }));
  sound.addEventListener("change", save);
  desktop.addEventListener("change", async () => {
    if (desktop.checked && "Notification" in window && Notification.permission !== "granted") {
      desktop.checked = (await Notification.requestPermission()) === "granted";
    }
    save();
  });
  const live = ctx.root.querySelector("#alerts-live");
  // the first snapshot makes the page interactive; the stream then stays open
  await new Promise((resolve) => {
    const observer = new MutationObserver(() => { if (live.dataset.state) { observer.disconnect(); resolve(); } });
    observer.observe(live, { attributes: true, attributeFilter: ["data-state"] });
    connect(ctx, live);
  });
}

// Attendance board: states per shift on a day, corrections with a reason, PIN/badge entries,
// payroll CSV export.
import { fill, h, table } from "../js/dom.js";
import { handleSubmit } from "../js/forms.js";

const STATE_CLASS = { in: "ok", out: "info", late: "warn", absent: "bad", scheduled: "muted", off: "muted" };
let rows = [];

function renderBoard(ctx, board) {
  const { t, fmt } = ctx;
  rows = board.items;
  const counts = {};
  for (const r of rows) counts[r.state] = (counts[r.state] || 0) + 1;
  ctx.root.querySelector("#attendance-counts").textContent = ["in", "late", "absent", "out", "scheduled"]
    .map((s) => `${t(`attendance.state_${s}`)}: ${fmt.number(counts[s] || 0)}`).join(" · ");
  const groups = new Map();
  for (const r of rows) {
    const key = r.shift || "";
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(r);
  }
  const columns = [
    { label: t("attendance.employee"), render: (r) => `${r.name} (${r.employee_id})` },
    { label: t("attendance.state"), render: (r) => h("span", { class: `badge ${STATE_CLASS[r.state]}`, dataset: { state: r.state } }, t(`attendance.state_${r.state}`)) },
    { label: t("attendance.check_in"), render: (r) => (r.check_in_at && r.state !== "absent" ? fmt.time(r.check_in_at) : "—") },
    { label: t("attendance.check_out"), render: (r) => (r.check_out_at ? fmt.time(r.check_out_at) : "—") },
    { label: t("attendance.method"), render: (r) => (r.method ? t(`attendance.method_${r.method}`) : "—") },
    { label: t("attendance.corrected"), render: (r) => (r.corrected ? t("shell.yes") : t("shell.no")) },
  ];
  const sections = [...groups.entries()].sort(([a], [b]) => (a || "99").localeCompare(b || "99")).map(([shift, items]) =>
    h("section", { class: "shift", dataset: { shift } },
      table(columns, items, { caption: shift ? t("attendance.shift", { shift }) : t("attendance.no_shift") })));
  fill(ctx.root.querySelector("#attendance-board"), sections);
  for (const id of ["#correction-employee", "#entry-employee"]) {
    const select = ctx.root.querySelector(id);
    const chosen = select.value;
    fill(select, rows.map((r) => h("option", { value: r.employee_id, selected: r.employee_id === chosen }, `${r.name} (${r.employee_id})`)));
  }
}

async function load(ctx) {
  const day = ctx.root.querySelector("#attendance-date").value;
  renderBoard(ctx, await ctx.api(`/console/api/attendance?date=${encodeURIComponent(day)}`));
}

export async function init(ctx) {
  const { t } = ctx;
  const $ = (id) => ctx.root.querySelector(id);
  const today = ctx.fmt.hotelToday();
  $("#attendance-date").value = today;
  $("#export-from").value = `${today.slice(0, 8)}01`;
  $("#export-to").value = today;
  $("#attendance-day-form").addEventListener("submit", (event) => { event.preventDefault(); load(ctx); });

  const correction = $("#correction-form");
  correction.addEventListener("submit", async (event) => {
    event.preventDefault();
    const day = $("#attendance-date").value;
    const saved = await handleSubmit(correction, (data) => {
      const at = (value) => (value ? `${day}T${value}:00` : null); // the hotel's local time
      return ctx.api("/console/api/attendance/corrections", {
        method: "POST",
        json: {
          employee_id: data.get("employee_id"), work_date: day, status: data.get("status"),
          check_in_at: at(data.get("check_in_at")), check_out_at: at(data.get("check_out_at")),
          reason: data.get("reason"),
        },
      });
    });
    if (saved) {
      correction.reset();
      ctx.setStatus(t("shell.saved"));
      await load(ctx);
    }
  });

  const entry = $("#entry-form");
  if (!ctx.allowed("flows:run")) entry.closest("section").hidden = true;
  entry.addEventListener("submit", async (event) => {
    event.preventDefault();
    const saved = await handleSubmit(entry, (data) => ctx.api("/api/v1/prefect/events/attendance", {
      method: "POST",
      json: { employee_id: data.get("employee_id"), method: data.get("method"), action: data.get("action"), timestamp: new Date().toISOString(), location: "console" },
    }));
    if (saved) {
      ctx.setStatus(t("shell.saved"));
      await load(ctx);
    }
  });

  const exporter = $("#export-form");
  exporter.addEventListener("submit", async (event) => {
    event.preventDefault();
    await handleSubmit(exporter, async (data) => {
      const query = new URLSearchParams({ from: data.get("from"), to: data.get("to") });
      const response = await ctx.api(`/console/api/attendance/export.csv?${query}`, { raw: true });
      const url = URL.createObjectURL(await response.blob());
      const link = h("a", { href: url, download: `attendance-${data.get("from")}-${data.get("to")}.csv` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      return true;
    });
  });
  await load(ctx);
}

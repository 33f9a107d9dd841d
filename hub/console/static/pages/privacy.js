// Privacy (the DPO): consent records, subject export (ZIP) and erasure, retention per data
// class, and the audit log with filters.
import { h, fill, table } from "../js/dom.js";
import { handleSubmit } from "../js/forms.js";
import { badge, fieldError } from "./lib-b.js";

const PAGE = 50;

export async function init(ctx) {
  const { api, t, fmt, root } = ctx;

  async function loadConsents() {
    if (!ctx.allowed("hotel:pii")) return;
    const consents = await api("/api/v1/privacy/consents?limit=200");
    fill(root.querySelector("#privacy-consents"), table([
      { key: "employee_id", label: t("privacy.employee_id") },
      { key: "purpose", label: t("privacy.purpose") },
      { key: "given_at", label: t("privacy.given_at"), render: (c) => fmt.dateTime(c.given_at) },
      { key: "method", label: t("privacy.method") },
      { key: "withdrawn_at", label: t("privacy.withdrawn"), render: (c) => (c.withdrawn_at ? badge("warn", fmt.dateTime(c.withdrawn_at)) : "—") },
    ], consents.items, { empty: t("privacy.empty") }));
  }

  async function loadRetention() {
    const retention = await api("/console/api/privacy/retention");
    fill(root.querySelector("#privacy-retention"), table([
      { key: "name", label: t("privacy.data_class") },
      { key: "days", label: t("privacy.days"), render: (c) => fmt.number(c.days) },
      { key: "holds", label: t("privacy.holds") },
      { key: "setting", label: t("privacy.setting"), render: (c) => h("code", {}, c.setting) },
    ], retention.classes));
  }

  // -- audit log -------------------------------------------------------------------------------
  const auditForm = root.querySelector("#audit-form");
  const more = root.querySelector("#audit-more");
  let rows = [];
  let query = "";

  async function loadAudit(offset = 0) {
    const page = await api(`/console/api/privacy/audit-log?limit=${PAGE}&offset=${offset}${query}`);
    rows = offset ? [...rows, ...page.items] : page.items;
    fill(root.querySelector("#privacy-audit"), table([
      { key: "at", label: t("privacy.at"), render: (r) => fmt.dateTime(r.at) },
      { key: "actor", label: t("privacy.actor") },
      { key: "action", label: t("privacy.action") },
      { key: "target", label: t("privacy.target") },
      { key: "detail", label: t("privacy.detail"), render: (r) => h("code", {}, JSON.stringify(r.detail)) },
    ], rows, { empty: t("privacy.empty") }));
    more.hidden = rows.length >= page.total;
    return page;
  }
  auditForm.addEventListener("submit", (event) => {
    event.preventDefault();
    handleSubmit(auditForm, async (data) => {
      const params = new URLSearchParams();
      for (const key of ["action", "actor"]) {
        const value = String(data.get(key) || "").trim();
        if (value) params.set(key, value);
      }
      query = params.size ? `&${params}` : "";
      return loadAudit(0);
    });
  });
  more.addEventListener("click", () => loadAudit(rows.length));

  // -- subject rights --------------------------------------------------------------------------
  const subjectForm = root.querySelector("#subject-form");
  const result = root.querySelector("#subject-result");
  const subjectPath = (data) => {
    const id = encodeURIComponent(String(data.get("subject_id") || "").trim());
    const kind = String(data.get("kind") || "");
    return { id, suffix: kind ? `?kind=${kind}` : "" };
  };
  subjectForm.addEventListener("submit", (event) => {
    event.preventDefault();
    handleSubmit(subjectForm, async (data) => {
      const { id, suffix } = subjectPath(data);
      if (!id) { fieldError(subjectForm, "subject_id", t("shell.required")); return null; }
      const response = await api(`/api/v1/privacy/subjects/${id}/export${suffix}`, { raw: true });
      const blob = await response.blob();
      const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "")?.[1] || `${id}.zip`;
      const link = h("a", { href: URL.createObjectURL(blob), download: name }, name);
      fill(result, h("p", {}, t("privacy.exported", { name }), " ", link));
      link.click();
      await loadAudit(0);
      return true;
    });
  });
  root.querySelector("#subject-erase").addEventListener("click", () => {
    handleSubmit(subjectForm, async (data) => {
      const { id, suffix } = subjectPath(data);
      if (!id) { fieldError(subjectForm, "subject_id", t("shell.required")); return null; }
      if (!data.get("confirm")) { fieldError(subjectForm, "confirm", t("privacy.confirm_needed")); return null; }
      const report = await api(`/api/v1/privacy/subjects/${id}${suffix}`, { method: "DELETE" });
      const deleted = Object.values(report.deleted || {}).reduce((a, b) => a + (Number(b) || 0), 0);
      fill(result, h("p", {}, badge("ok", t("privacy.erased", { n: deleted }))));
      subjectForm.reset();
      await Promise.all([loadConsents(), loadAudit(0)]);
      return report;
    });
  });

  await Promise.all([loadConsents(), loadRetention(), loadAudit(0)]);
}

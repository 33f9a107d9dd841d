// People: employees with their consent, enrolment with the quality verdict per photo, recent
// recognitions ("not this person"), unknown faces grouped into clusters (name or dismiss).
import { imageUrl } from "../js/api.js";
import { h, fill, table } from "../js/dom.js";
import { handleSubmit, showErrors } from "../js/forms.js";
import { badge, fileToDataUrl, fieldError, reasonOf } from "./lib-b.js";

export async function init(ctx) {
  const { api, t, fmt, root, config } = ctx;
  const canEnrol = ctx.allowed("cv:write");
  const objectUrls = [];
  const keep = (url) => { objectUrls.push(url); return url; };

  async function loadEmployees() {
    const [employees, consents] = await Promise.all([
      api("/api/v1/hotel/employees?limit=200"),
      api("/api/v1/privacy/consents?active=true&limit=1000"),
    ]);
    const consenting = new Set(consents.items.map((c) => c.employee_id));
    fill(root.querySelector("#people-employees"), table([
      { key: "employee_id", label: t("people.employee_id") },
      { key: "name", label: t("people.name") },
      { key: "department", label: t("people.department"), render: (e) => e.department || "—" },
      { key: "consent", label: t("people.consent"), render: (e) => consenting.has(e.employee_id)
        ? badge("ok", t("people.consent_yes")) : badge("muted", t("people.consent_no")) },
    ], employees.items, { empty: t("people.empty") }));
  }

  async function loadRecent() {
    const events = await api("/api/v1/events?kind=face&limit=20");
    fill(root.querySelector("#people-recent"), table([
      { key: "started_at", label: t("people.when"), render: (e) => fmt.dateTime(e.started_at) },
      { key: "camera_id", label: t("people.camera") },
      { key: "person_id", label: t("people.person"), render: (e) => e.person_id || t("people.unknown") },
      { key: "score", label: t("people.score"), render: (e) => (e.score == null ? "—" : fmt.number(e.score, 3)) },
      { key: "actions", label: t("people.actions"), render: (e) => (canEnrol && e.person_id
        ? h("button", { type: "button", class: "button secondary", onclick: (ev) => notThis(ev.currentTarget, e) }, t("people.not_this"))
        : "—") },
    ], events.items, { empty: t("people.empty") }));
  }

  async function notThis(button, event) {
    button.disabled = true;
    try {
      await api(`/console/api/people/events/${event.event_id}/not-this-person`, { method: "POST" });
      ctx.setStatus(t("people.not_this_done"));
      await Promise.all([loadRecent(), loadClusters()]);
    } catch (error) {
      ctx.setStatus(reasonOf(error), "error");
      button.disabled = false;
    }
  }

  async function loadClusters() {
    if (!canEnrol) return;
    const list = root.querySelector("#people-clusters");
    let found;
    try {
      found = await api("/console/api/people/clusters?days=7");
    } catch (error) {
      fill(list, h("li", {}, reasonOf(error)));
      return;
    }
    root.querySelector("#people-clusters-note").textContent = t("people.clusters_note", { days: found.days, scanned: found.events_scanned });
    if (!found.clusters.length) { fill(list, h("li", {}, t("people.no_clusters"))); return; }
    fill(list, await Promise.all(found.clusters.map((c, i) => clusterItem(c, i))));
  }

  async function clusterItem(cluster, index) {
    const thumbs = await Promise.all(cluster.event_ids.slice(0, 4).map(async (id, n) => h("img", {
      src: keep(await imageUrl(`/console/api/people/events/${id}/crop`)), alt: t("people.crop_alt", { n: n + 1 }),
    })));
    const idInput = `cluster-${index}-id`;
    const nameInput = `cluster-${index}-name`;
    const form = h("form", { class: "cluster-form", novalidate: true },
      h("div", { class: "field" }, h("label", { for: idInput }, t("people.name_as")),
        h("input", { id: idInput, name: "employee_id", required: true, autocomplete: "off", "aria-describedby": `${idInput}-error` }),
        h("p", { class: "field-error", "data-error-for": "employee_id", id: `${idInput}-error` })),
      h("div", { class: "field" }, h("label", { for: nameInput }, t("people.name_new")),
        h("input", { id: nameInput, name: "name", autocomplete: "off", "aria-describedby": `${nameInput}-error` }),
        h("p", { class: "field-error", "data-error-for": "name", id: `${nameInput}-error` })),
      h("p", { class: "form-error", "data-error-for": "_form" }),
      h("div", { class: "actions" },
        h("button", { type: "submit", class: "button" }, t("people.name_it")),
        h("button", { type: "button", class: "button danger", onclick: () => dismiss(form, cluster) }, t("people.dismiss"))));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      handleSubmit(form, async (data) => {
        const name = String(data.get("name") || "").trim();
        const employeeId = String(data.get("employee_id") || "").trim();
        const result = await api("/console/api/people/clusters/name", {
          method: "POST", json: { event_ids: cluster.event_ids, employee_id: employeeId, ...(name ? { name } : {}) },
        });
        ctx.setStatus(t("people.named", { id: result.employee_id, n: result.events_named }));
        await Promise.all([loadEmployees(), loadRecent(), loadClusters()]);
        return result;
      });
    });
    return h("li", { "data-cluster": cluster.cluster_id },
      h("p", {}, h("strong", {}, t("people.cluster_n", { n: cluster.size })), " · ",
        t("people.seen", { first: fmt.dateTime(cluster.first_seen), last: fmt.dateTime(cluster.last_seen) }), " · ", cluster.cameras.join(", ")),
      h("div", { class: "thumbs" }, thumbs), form);
  }

  async function dismiss(form, cluster) {
    try {
      const result = await api("/console/api/people/clusters/dismiss", { method: "POST", json: { event_ids: cluster.event_ids } });
      ctx.setStatus(t("people.dismissed", { n: result.events_deleted }));
      await Promise.all([loadRecent(), loadClusters()]);
    } catch (error) {
      showErrors(form, error);
    }
  }

  // -- enrolment: consent, photos with a verdict each, then enrol the accepted ones --------------
  const form = root.querySelector("#enrol-form");
  const photos = form.querySelector("#enrol-photos");
  const verdictList = root.querySelector("#enrol-verdicts");
  let accepted = [];

  photos.addEventListener("change", async () => {
    accepted = [];
    fill(verdictList);
    const files = [...photos.files].slice(0, 10);
    if (!files.length) return;
    ctx.setStatus(t("people.checking"));
    const images = await Promise.all(files.map(fileToDataUrl));
    try {
      const checked = await api("/console/api/people/check", { method: "POST", json: { images } });
      fill(verdictList, checked.images.map((v) => h("li", { "data-verdict": v.code },
        h("img", { src: images[v.index], alt: t("people.photo_n", { n: v.index + 1 }) }),
        badge(v.accepted ? "ok" : "bad", t(`people.v_${v.code}`)),
        v.quality == null ? "" : ` ${t("people.quality", { q: fmt.percent(v.quality) })}`,
        v.reason ? ` — ${v.reason}` : "")));
      accepted = checked.images.filter((v) => v.accepted).map((v) => images[v.index]);
      ctx.setStatus("");
    } catch (error) {
      showErrors(form, error);
      ctx.setStatus("");
    }
  });

  async function ensureConsent(employeeId) {
    let active = false;
    try {
      active = (await api(`/api/v1/privacy/consents/${encodeURIComponent(employeeId)}`)).active;
    } catch (error) {
      if (error.status !== 404) throw error; // 404: nothing recorded for that person yet
    }
    if (active) return;
    if (!form.elements.consent.checked) {
      fieldError(form, "consent", t("people.consent_needed"));
      throw new Error(t("people.consent_needed"));
    }
    const notices = await api("/api/v1/privacy/notices");
    const lang = config.lang || "en";
    const notice = notices.items.find((n) => n.language === lang) || notices.items[0];
    await api("/api/v1/privacy/consents", {
      method: "POST",
      json: { employee_id: employeeId, purpose: "attendance", notice_version: notice.version, notice_language: notice.language, method: "signed_paper" },
    });
  }

  if (canEnrol) {
    root.querySelector("#enrol-section").hidden = false;
    root.querySelector("#clusters-section").hidden = false;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      handleSubmit(form, async (data) => {
        const employeeId = String(data.get("employee_id") || "").trim();
        const name = String(data.get("name") || "").trim();
        if (!accepted.length) { fieldError(form, "images", t("people.no_photos")); return null; }
        try {
          await ensureConsent(employeeId);
        } catch (error) {
          if (error.message === t("people.consent_needed")) return null;
          throw error;
        }
        const result = await api("/api/v1/cv/face/enroll", {
          method: "POST",
          json: { employee_id: employeeId, images: accepted, ...(name ? { metadata: { name } } : {}) },
        });
        fill(root.querySelector("#enrol-result"), h("p", {}, badge("ok", t("people.enrolled", { n: result.embeddings_created, id: result.employee_id })),
          result.warnings.length ? ` ${result.warnings.join("; ")}` : ""));
        form.reset();
        fill(verdictList);
        accepted = [];
        await loadEmployees();
        return result;
      });
    });
  }
  window.addEventListener("pagehide", () => objectUrls.forEach((u) => URL.revokeObjectURL(u)));
  await Promise.all([loadEmployees(), loadRecent(), loadClusters()]);
}

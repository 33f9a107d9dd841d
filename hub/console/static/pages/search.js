// Search: image search by photo (lost & found first), the lost & found lists, and face search
// (admin only; the purpose is required and audited by the hub).
import { imageUrl } from "../js/api.js";
import { h, fill, table } from "../js/dom.js";
import { handleSubmit } from "../js/forms.js";
import { badge, fileToDataUrl, fieldError } from "./lib-b.js";

export async function init(ctx) {
  const { api, t, fmt, root } = ctx;
  const urls = [];

  const imageForm = root.querySelector("#image-search-form");
  imageForm.addEventListener("submit", (event) => {
    event.preventDefault();
    handleSubmit(imageForm, async (data) => {
      const file = data.get("photo");
      if (!(file instanceof File) || !file.size) { fieldError(imageForm, "query_image", t("shell.required")); return null; }
      const category = String(data.get("category") || "");
      const found = await api("/api/v1/cv/image/search", {
        method: "POST", json: { query_image: await fileToDataUrl(file), top_k: 12, ...(category ? { category } : {}) },
      });
      const out = root.querySelector("#image-search-results");
      if (!found.results.length) { fill(out, h("p", {}, t("search.no_results"))); return found; }
      const items = await Promise.all(found.results.map(async (r, i) => {
        const src = await imageUrl(r.thumbnail_url || r.url);
        urls.push(src);
        return h("li", {}, h("img", { src, alt: t("search.result_alt", { n: i + 1 }) }),
          h("p", {}, badge("info", r.category), " ", t("search.similarity", { s: fmt.number(r.similarity, 2) })),
          r.metadata?.description ? h("p", { class: "sub" }, String(r.metadata.description)) : null);
      }));
      fill(out, h("p", {}, t("search.results", { n: found.results.length })), h("ul", { class: "results" }, items));
      return found;
    });
  });

  async function loadLostFound() {
    const [found, lost] = await Promise.all([
      api("/api/v1/hotel/lost-found/found?limit=20"),
      api("/api/v1/hotel/lost-found/lost?limit=20"),
    ]);
    fill(root.querySelector("#lost-found-list"),
      table([
        { key: "description", label: t("search.description") },
        { key: "location", label: t("search.location") },
        { key: "found_at", label: t("search.when"), render: (r) => fmt.dateTime(r.found_at) },
        { key: "status", label: t("search.status"), render: (r) => badge("info", r.status) },
      ], found.items, { caption: t("search.found"), empty: "—" }),
      table([
        { key: "description", label: t("search.description") },
        { key: "lost_location", label: t("search.location"), render: (r) => r.lost_location || "—" },
        { key: "reported_at", label: t("search.when"), render: (r) => fmt.dateTime(r.reported_at) },
        { key: "status", label: t("search.status"), render: (r) => badge("info", r.status) },
      ], lost.items, { caption: t("search.lost"), empty: "—" }));
  }

  if (ctx.allowed("admin")) {
    root.querySelector("#face-search-section").hidden = false;
    const faceForm = root.querySelector("#face-search-form");
    faceForm.addEventListener("submit", (event) => {
      event.preventDefault();
      handleSubmit(faceForm, async (data) => {
        const file = data.get("photo");
        if (!(file instanceof File) || !file.size) { fieldError(faceForm, "image", t("shell.required")); return null; }
        const found = await api("/console/api/people/search", {
          method: "POST",
          json: { image: await fileToDataUrl(file), purpose: String(data.get("purpose") || "").trim(), days: Number(data.get("days") || 30) },
        });
        fill(root.querySelector("#face-search-results"),
          h("p", {}, t("search.face_results", { n: found.items.length, id: found.audit_id })),
          table([
            { key: "started_at", label: t("search.when"), render: (r) => fmt.dateTime(r.started_at) },
            { key: "camera_id", label: t("search.camera") },
            { key: "person_id", label: t("search.person"), render: (r) => r.person_id || t("search.unknown") },
            { key: "similarity", label: t("search.similarity", { s: "" }).trim(), render: (r) => fmt.number(r.similarity, 3) },
          ], found.items));
        return found;
      });
    });
  }
  window.addEventListener("pagehide", () => urls.forEach((u) => URL.revokeObjectURL(u)));
  if (ctx.allowed("hotel:read")) await loadLostFound();
}

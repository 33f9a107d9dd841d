// Rooms board: rooms by floor with their board status, a room's last inspection (photo with the
// changed regions outlined, per-region findings), and an inspection photo from a phone.
import { imageUrl } from "../js/api.js";
import { h, fill, table } from "../js/dom.js";
import { handleSubmit } from "../js/forms.js";
import { badge, fileToDataUrl, fieldError } from "./lib-b.js";

const STATUSES = ["dirty", "cleaning", "inspected", "ready", "occupied", "out_of_order"];
const KIND = { dirty: "bad", cleaning: "warn", inspected: "ok", ready: "ok", occupied: "info", out_of_order: "muted" };

export async function init(ctx) {
  const { api, t, fmt, root } = ctx;
  const floorSelect = root.querySelector("#rooms-floor");
  const grid = root.querySelector("#rooms-grid");
  const counts = root.querySelector("#rooms-counts");
  const detail = root.querySelector("#room-detail");
  const inspectSection = root.querySelector("#inspect-section");
  const form = root.querySelector("#inspect-form");
  let selected = null;
  let photoUrl = null;

  async function load() {
    const floor = floorSelect.value;
    const board = await api(`/console/api/rooms/board${floor ? `?floor=${encodeURIComponent(floor)}` : ""}`);
    fill(counts, STATUSES.map((s) => h("li", {}, badge(KIND[s], `${t(`rooms.s_${s}`)}: ${board.counts[s] ?? 0}`))));
    if (!floor) {
      const known = new Set([...floorSelect.options].map((o) => o.value));
      for (const f of board.floors) {
        if (!known.has(String(f.floor))) floorSelect.append(h("option", { value: String(f.floor) }, t("rooms.floor_n", { n: f.floor })));
      }
    }
    if (!board.floors.length) { fill(grid, h("p", {}, t("rooms.empty"))); return; }
    fill(grid, board.floors.map((f) => h("section", { class: "floor", "aria-labelledby": `floor-${f.floor}` },
      h("h2", { id: `floor-${f.floor}` }, t("rooms.floor_n", { n: f.floor })),
      h("ul", { class: "room-grid" }, f.rooms.map((room) => h("li", {},
        h("button", {
          type: "button", class: "room-tile", "data-status": room.board_status, "data-room": room.room_number,
          "aria-pressed": String(room.room_number === selected),
          onclick: () => show(room),
        }, h("strong", {}, room.room_number), t(`rooms.s_${room.board_status}`))))))));
  }

  async function show(room) {
    selected = room.room_number;
    for (const b of grid.querySelectorAll(".room-tile")) b.setAttribute("aria-pressed", String(b.dataset.room === selected));
    detail.hidden = false;
    root.querySelector("#room-detail-title").textContent = `${t("rooms.room_n", { n: room.room_number })} · ${t(`rooms.s_${room.board_status}`)}`;
    const body = root.querySelector("#room-detail-body");
    if (ctx.allowed("rooms:inspect")) form.elements.room_number.value = room.room_number;
    if (!room.last_inspection) { fill(body, h("p", {}, t("rooms.no_inspection"))); return; }
    const found = await api(`/console/api/rooms/inspections/${room.last_inspection.analysis_id}`);
    fill(body, await inspectionView(found, room.room_number));
  }

  async function inspectionView(found, number) {
    const summary = h("p", {},
      t("rooms.last_inspection", { when: fmt.dateTime(found.analysed_at), who: found.analyzed_by || "—" }), " ",
      badge(found.ready_for_guest ? "ok" : "bad", found.ready_for_guest ? t("rooms.ready_yes") : t("rooms.ready_no")), " ",
      t("rooms.score", { score: fmt.percent(found.cleanliness_score) }));
    let photo = h("p", {}, t("rooms.no_photo"));
    if (found.photo_url) {
      if (photoUrl) URL.revokeObjectURL(photoUrl);
      photoUrl = await imageUrl(found.photo_url);
      photo = h("div", { class: "photo-frame" }, h("img", { src: photoUrl, alt: t("rooms.photo_alt", { n: number }) }),
        found.regions.filter((r) => r.changed && Array.isArray(r.changed_box)).map((r) => regionBox(r)));
    }
    const regions = table([
      { key: "name", label: t("rooms.region") },
      { key: "kind", label: t("rooms.kind") },
      { key: "changed", label: t("rooms.changed"), render: (r) => badge(r.changed ? "bad" : "ok", r.changed ? t("shell.yes") : t("shell.no")) },
      { key: "changed_fraction", label: t("rooms.change"), render: (r) => fmt.percent(r.changed_fraction) },
      { key: "tag", label: t("rooms.tag"), render: (r) => r.tag || "—" },
    ], found.regions);
    return [summary, h("div", { class: "inspection" }, photo, regions)];
  }

  function regionBox(region) {
    const [x, y, w, hgt] = region.changed_box;
    const box = h("span", { class: "region-box", title: region.name });
    // positions as fractions of the photo; CSP allows no inline style attribute, so set them as properties
    Object.assign(box.style, { left: `${x * 100}%`, top: `${y * 100}%`, width: `${w * 100}%`, height: `${hgt * 100}%` });
    return box;
  }

  if (ctx.allowed("rooms:inspect")) {
    inspectSection.hidden = false;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      handleSubmit(form, async (data) => {
        const file = data.get("photo");
        if (!(file instanceof File) || !file.size) { fieldError(form, "image", t("shell.required")); return null; }
        const result = await api("/api/v1/cv/room/analyze", {
          method: "POST",
          json: { room_number: String(data.get("room_number") || "").trim(), image: await fileToDataUrl(file), analysis_depth: "detailed" },
        });
        const text = result.ready_for_guest
          ? t("rooms.result_ready", { n: result.room_number })
          : t("rooms.result_not_ready", { n: result.room_number, tags: result.tags.map((tag) => tag.label).join(", ") || "—" });
        fill(root.querySelector("#inspect-result"), h("p", {}, badge(result.ready_for_guest ? "ok" : "bad", text)));
        form.reset();
        await load();
        const tile = grid.querySelector(`[data-room="${CSS.escape(result.room_number)}"]`);
        if (tile) tile.click();
        return result;
      });
    });
  }
  floorSelect.addEventListener("change", load);
  root.querySelector("#rooms-refresh").addEventListener("click", load);
  await load();
}

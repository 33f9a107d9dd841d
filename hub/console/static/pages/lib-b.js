// Helpers shared by the Rooms, People, Search, Forecasts, Assistant and Privacy pages.
import { h } from "../js/dom.js";

/** A File as base64 (a data: URL, which the hub's image routes accept). */
export function fileToDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

export function badge(kind, text) {
  return h("span", { class: `badge ${kind}` }, text);
}

/** The message of an error (ApiError or not). */
export function reasonOf(error) {
  return error?.message || String(error);
}

/** Sets a form's general error slot. */
export function formError(form, text) {
  const slot = form.querySelector('[data-error-for="_form"]');
  if (slot) slot.textContent = text;
}

/** Sets one field's error slot and marks its input. */
export function fieldError(form, field, text) {
  const slot = form.querySelector(`[data-error-for="${field}"]`);
  if (slot) slot.textContent = text;
  const input = form.querySelector(`[name="${field}"]`);
  if (input) input.setAttribute("aria-invalid", "true");
}

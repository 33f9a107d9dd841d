// The API's field errors shown next to their fields: an element [data-error-for="<field>"] inside
// the form receives the reason, and the input named <field> gets aria-invalid. Errors without a
// matching element go to [data-error-for="_form"].
import { ApiError } from "./api.js";

export function clearErrors(form) {
  for (const el of form.querySelectorAll("[data-error-for]")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

export function showErrors(form, error) {
  clearErrors(form);
  const general = form.querySelector('[data-error-for="_form"]');
  const errors = error instanceof ApiError ? error.errors : [];
  let placed = false;
  for (const { field, reason } of errors) {
    const name = String(field).split(".").pop();
    const slot = form.querySelector(`[data-error-for="${CSS.escape(field)}"]`) || form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
    const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (input) input.setAttribute("aria-invalid", "true");
    if (slot) { slot.textContent = reason; placed = true; }
  }
  if (!placed && general) general.textContent = error?.message || String(error);
}

/** Submits `form` through `submit(formData)`; shows field errors; returns the result or null. */
export async function handleSubmit(form, submit) {
  clearErrors(form);
  const button = form.querySelector('[type="submit"]');
  if (button) button.disabled = true;
  try {
    return await submit(new FormData(form));
  } catch (error) {
    showErrors(form, error);
    return null;
  } finally {
    if (button) button.disabled = false;
  }
}

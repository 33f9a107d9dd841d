// The page's configuration and translations, embedded by the server in two JSON script tags.
const read = (id) => JSON.parse(document.getElementById(id)?.textContent || "{}");

export const config = read("console-config");
const catalog = read("console-i18n");

/** The text of `key` (e.g. "today.title") with {name} placeholders filled; the key if unknown. */
export function t(key, values = {}) {
  const text = catalog[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

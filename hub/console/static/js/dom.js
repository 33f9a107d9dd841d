// Tiny DOM helpers: h("tag", {attrs}, ...children) builds elements (text is never parsed as HTML).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c != null && c !== false));
  return el;
}

/** A table: columns [{key, label, render?}] and rows of objects. */
export function table(columns, rows, { caption, empty = "—" } = {}) {
  const head = h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.label))));
  const body = h("tbody", {}, rows.length
    ? rows.map((row) => h("tr", {}, columns.map((c) => h("td", { "data-label": c.label }, c.render ? c.render(row) : row[c.key] ?? "—"))))
    : h("tr", {}, h("td", { colspan: columns.length }, empty)));
  return h("table", { class: "data" }, caption ? h("caption", {}, caption) : null, head, body);
}

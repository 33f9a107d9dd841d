// The console shell: checks the session, shows the pages the user's scopes allow, applies the
// user's language, then loads the page's module (static/pages/<id>.js) and calls its init(ctx).
// When the page is ready, <body data-ready="1"> (tests and the benchmark wait for it).
import { api, ApiError } from "./api.js";
import { config, t } from "./config.js";
import * as fmt from "./fmt.js";
import { allowed, session, setLanguageCookie, toSignIn } from "./session.js";

const main = document.getElementById("main");
const status = document.getElementById("page-status");
const scopesOf = (el, name) => (el.dataset[name] || "").split(" ").filter(Boolean);

function setStatus(text, kind = "") {
  status.textContent = text;
  status.dataset.kind = kind;
}

function wireChrome(me) {
  document.getElementById("user-name").textContent = me.display_name || me.username;
  document.getElementById("sign-out").addEventListener("click", () => {
    session.clear();
    location.assign("/console/signin");
  });
  document.getElementById("lang-select").addEventListener("change", async (event) => {
    const language = event.target.value;
    try {
      await api("/console/api/me/preferences", { method: "PUT", json: { language } });
    } catch (error) {
      setStatus(t("shell.error", { reason: error.message }), "error");
      return;
    }
    setLanguageCookie(language);
    location.reload();
  });
  const toggle = document.querySelector(".menu-toggle");
  const nav = document.getElementById("nav");
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    nav.classList.toggle("open", open);
  });
}

async function start() {
  if (!session.token) return toSignIn();
  let me;
  try {
    me = await api("/console/api/me");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return undefined;
    setStatus(t("shell.error", { reason: error.message }), "error");
    return undefined;
  }
  const RELOADED = "innsight.console.lang-reload";
  if (me.language && me.language !== config.lang && sessionStorage.getItem(RELOADED) !== me.language) {
    // the user's stored language wins over this browser's cookie (once: cookies may be off)
    sessionStorage.setItem(RELOADED, me.language);
    setLanguageCookie(me.language);
    location.reload();
    return undefined;
  }
  sessionStorage.removeItem(RELOADED);
  const held = new Set(me.scopes);
  for (const item of document.querySelectorAll("#nav li[data-page]")) {
    item.hidden = !allowed(held, scopesOf(item, "scopes"), scopesOf(item, "anyScopes"));
  }
  wireChrome(me);
  if (!allowed(held, scopesOf(main, "scopes"), scopesOf(main, "anyScopes"))) {
    document.getElementById("page-denied").hidden = false;
    return undefined;
  }
  const body = document.getElementById("page-body");
  body.hidden = false;
  if (main.dataset.hasScript !== "1") return undefined;
  const page = await import(main.dataset.script);
  setStatus(t("shell.loading"));
  const ctx = { api, t, fmt, me, scopes: held, root: body, config, setStatus, allowed: (...s) => allowed(held, s) };
  try {
    await page.init(ctx);
    setStatus(t("shell.loaded"));
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return undefined;
    setStatus(t("shell.error", { reason: error.message }), "error");
  }
  return undefined;
}

start().finally(() => {
  // milliseconds from the navigation's start (benchmarks/console_today.py reads it)
  document.body.dataset.readyMs = String(Math.round(performance.now()));
  document.body.dataset.ready = "1";
  main.setAttribute("aria-busy", "false");
});

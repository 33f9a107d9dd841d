// The signed-in session: the access token and its scopes, in sessionStorage (per tab).
const TOKEN = "innsight.console.token";
const SCOPES = "innsight.console.scopes";

export const session = {
  get token() { return sessionStorage.getItem(TOKEN); },
  get scopes() { return new Set((sessionStorage.getItem(SCOPES) || "").split(" ").filter(Boolean)); },
  save(token, scopes) {
    sessionStorage.setItem(TOKEN, token);
    sessionStorage.setItem(SCOPES, scopes);
  },
  clear() {
    sessionStorage.removeItem(TOKEN);
    sessionStorage.removeItem(SCOPES);
  },
};

export function grants(held, scope) {
  return held.has("admin") || held.has(scope);
}

/** Whether `held` covers all of `scopes` and (when given) one of `anyScopes`. */
export function allowed(held, scopes, anyScopes = []) {
  return scopes.every((s) => grants(held, s)) && (anyScopes.length === 0 || anyScopes.some((s) => grants(held, s)));
}

/** Back to sign-in, keeping the page to return to. */
export function toSignIn(reason = "") {
  session.clear();
  const next = encodeURIComponent(location.pathname + location.search + location.hash);
  location.assign(`/console/signin?next=${next}${reason ? `&reason=${reason}` : ""}`);
}

const LANG_COOKIE = "innsight_console_lang";
export function setLanguageCookie(lang) {
  document.cookie = `${LANG_COOKIE}=${encodeURIComponent(lang)}; Path=/console; SameSite=Strict; Max-Age=31536000`;
}

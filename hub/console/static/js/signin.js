// Sign-in: the OAuth2 password flow (POST /api/v1/auth/token), then back to the page asked for.
import { api } from "./api.js";
import { t } from "./config.js";
import { handleSubmit } from "./forms.js";
import { session, setLanguageCookie } from "./session.js";

const form = document.getElementById("signin-form");
const params = new URLSearchParams(location.search);
const next = params.get("next") || "";
// only a console path of this origin (never //evil.example or javascript:)
const target = /^\/console(\/[\w\-/?=&%#.]*)?$/.test(next) && !next.startsWith("/console/signin") ? next : "/console/today";

if (params.get("reason") === "expired") {
  form.querySelector('[data-error-for="_form"]').textContent = t("shell.session_expired");
}

document.getElementById("lang-select").addEventListener("change", (event) => {
  setLanguageCookie(event.target.value);
  location.reload();
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const missing = [...form.querySelectorAll("input[required]")].filter((i) => !i.value);
  for (const input of missing) {
    input.setAttribute("aria-invalid", "true");
    form.querySelector(`[data-error-for="${input.name}"]`).textContent = t("shell.required");
  }
  if (missing.length) return;
  await handleSubmit(form, async (data) => {
    const body = new URLSearchParams({ grant_type: "password", username: data.get("username"), password: data.get("password") });
    const response = await fetch("/api/v1/auth/token", { method: "POST", body });
    const answer = await response.json().catch(() => null);
    if (!response.ok) {
      const { ApiError } = await import("./api.js");
      throw new ApiError(response.status, answer);
    }
    session.save(answer.access_token, answer.scope);
    const me = await api("/console/api/me");
    if (me.language) setLanguageCookie(me.language);
    location.assign(target);
    return me;
  });
});

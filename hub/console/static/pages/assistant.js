// Assistant: the answer streams in (Server-Sent Events over fetch: POST with the token), the
// tools it called are shown as they run, and the actions it proposes wait for Confirm / Reject.
import { api, readEvents } from "../js/api.js";
import { h, fill } from "../js/dom.js";
import { handleSubmit } from "../js/forms.js";
import { reasonOf } from "./lib-b.js";

export async function init(ctx) {
  const { t, root } = ctx;
  const log = root.querySelector("#chat-log");
  const form = root.querySelector("#chat-form");
  const stop = root.querySelector("#chat-stop");
  const conversation = `console-${crypto.randomUUID()}`;
  let controller = null;

  function pendingItem(action) {
    const out = h("p", { role: "status" });
    const item = h("div", { class: "pending", "data-action": action.action_id },
      h("p", {}, t("assistant.pending", { summary: action.summary })),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "button", onclick: () => decide(true) }, t("assistant.confirm")),
        h("button", { type: "button", class: "button secondary", onclick: () => decide(false) }, t("assistant.reject"))),
      out);
    async function decide(approve) {
      for (const b of item.querySelectorAll("button")) b.disabled = true;
      try {
        const result = await api("/api/v1/llm/assistant/confirm", { method: "POST", json: { action_id: action.action_id, approve } });
        out.textContent = approve ? t("assistant.confirmed", { status: result.status }) : t("assistant.rejected");
      } catch (error) {
        out.textContent = reasonOf(error);
        for (const b of item.querySelectorAll("button")) b.disabled = false;
      }
    }
    return item;
  }

  async function ask(message) {
    log.append(h("li", { class: "msg user" }, h("strong", {}, `${t("assistant.you")}: `), message));
    const text = h("span", { class: "answer" });
    const tools = h("div", { class: "tools" });
    const extra = h("div");
    const item = h("li", { class: "msg assistant", "aria-busy": "true" }, h("strong", {}, `${t("assistant.assistant")}: `), tools, text, extra);
    log.append(item);
    controller = new AbortController();
    stop.disabled = false;
    ctx.setStatus(t("assistant.thinking"));
    try {
      const response = await api("/api/v1/llm/assistant/query-stream", {
        method: "POST",
        raw: true,
        signal: controller.signal,
        headers: { Accept: "text/event-stream" },
        json: { message, conversation_id: conversation },
      });
      await readEvents(response, (name, data) => {
        if (name === "token") text.append(data.text);
        else if (name === "tool_call") tools.append(h("p", { class: "tool", "data-tool": data.name }, `⚙ ${t("assistant.tool_call", { name: data.name })} ${JSON.stringify(data.args)}`));
        else if (name === "tool_result") {
          const last = [...tools.querySelectorAll(".tool")].pop();
          if (last) last.append(` ✓ ${t("assistant.tool_done")}`);
        } else if (name === "final") {
          if (!text.textContent && data.response) text.textContent = data.response;
          fill(extra, (data.pending_actions || []).map(pendingItem));
        } else if (name === "error") {
          extra.append(h("p", { class: "form-error" }, t("assistant.error", { reason: data.message || data.detail || "?" })));
        }
      });
      ctx.setStatus("");
    } catch (error) {
      if (error.name !== "AbortError") extra.append(h("p", { class: "form-error" }, t("assistant.error", { reason: reasonOf(error) })));
      ctx.setStatus("");
    } finally {
      item.removeAttribute("aria-busy");
      stop.disabled = true;
      controller = null;
    }
  }

  stop.addEventListener("click", () => controller?.abort());
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    handleSubmit(form, async (data) => {
      const message = String(data.get("message") || "").trim();
      if (!message) return null;
      form.reset();
      await ask(message);
      return true;
    });
  });
  form.elements.message.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
}

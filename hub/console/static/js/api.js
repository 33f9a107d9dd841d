// fetch() with the session's bearer token; a 401 returns to sign-in (keeping the page), any other
// error throws ApiError with the API's field errors ({detail, errors: [{field, reason}]}).
import { session, toSignIn } from "./session.js";

export class ApiError extends Error {
  constructor(status, body) {
    super(typeof body?.detail === "string" ? body.detail : `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.errors = Array.isArray(body?.errors) ? body.errors : [];
  }
}

/**
 * api("/api/v1/hotel/rooms")                         GET, parsed JSON
 * api(path, { method: "POST", json: {...} })         JSON body
 * api(path, { method: "POST", form: new FormData() }) multipart / urlencoded body
 * api(path, { raw: true })                           the Response itself (CSV, images, streams)
 */
export async function api(path, { method = "GET", json, form, raw = false, signal, headers = {} } = {}) {
  const init = { method, signal, headers: { ...headers } };
  if (session.token) init.headers.Authorization = `Bearer ${session.token}`;
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form;
  }
  const response = await fetch(path, init);
  if (response.status === 401) {
    toSignIn("expired");
    throw new ApiError(401, null);
  }
  if (!response.ok) {
    let body = null;
    try { body = await response.json(); } catch { body = null; }
    throw new ApiError(response.status, body);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

/** An object URL of an authenticated image (for <img src>); revoke it when done. */
export async function imageUrl(path) {
  const response = await api(path, { raw: true });
  return URL.createObjectURL(await response.blob());
}

/**
 * Server-sent events over fetch (EventSource cannot send the Authorization header).
 * Calls onEvent(name, data) per event; resolves when the stream ends or `signal` aborts.
 */
export async function streamEvents(path, onEvent, { signal } = {}) {
  const response = await api(path, { raw: true, signal, headers: { Accept: "text/event-stream" } });
  await readEvents(response, onEvent);
}

/** Reads a `text/event-stream` response body, calling onEvent(name, data) per event. */
export async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) onEvent(name, JSON.parse(data.join("\n")));
    }
  }
}

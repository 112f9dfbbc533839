// The console's one door to the API: the key (sessionStorage only), authenticated fetches, problems shown as their
// title and detail, and a small DOM builder (text is always set as text, never parsed as HTML).

const KEY = "longhaul.key";
const ME = "longhaul.me";

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null && child !== false) node.append(child);
  }
  return node;
}

export const $ = (selector) => document.querySelector(selector);

/** An RFC 9457 problem from the API (or one the console makes up when the API could not be reached). */
export class Problem extends Error {
  constructor(body, status) {
    super(body.detail || body.title || `HTTP ${status}`);
    this.title = body.title || `HTTP ${status}`;
    this.detail = body.detail || "";
    this.status = body.status || status;
    this.errors = Array.isArray(body.errors) ? body.errors : [];
    this.requestId = body.request_id || "";
  }
}

export async function problemOf(response) {
  const text = await response.text().catch(() => "");
  let body = {};
  try {
    body = JSON.parse(text);
  } catch {
    body = { detail: text.slice(0, 300) };
  }
  if (typeof body !== "object" || body === null) body = {};
  if (!body.title) body.title = response.statusText || `HTTP ${response.status}`;
  const retry = response.headers.get("Retry-After");
  if (retry && !/retry/i.test(body.detail || "")) body.detail = `${body.detail || ""} (retry in ${retry} s)`.trim();
  return new Problem(body, response.status);
}

export function key() {
  return sessionStorage.getItem(KEY);
}

export function me() {
  try {
    return JSON.parse(sessionStorage.getItem(ME) || "null");
  } catch {
    return null;
  }
}

export const isAdmin = () => (me()?.scopes || []).includes("admin");

export function signOut() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(ME);
}

/** Check ``secret`` against GET /v1/me; keep it (and who it is) for this tab when it works. */
export async function signIn(secret) {
  const who = await api("/v1/me", { secret });
  sessionStorage.setItem(KEY, secret);
  sessionStorage.setItem(ME, JSON.stringify(who));
  return who;
}

/** fetch with the key as Bearer; JSON in and out. A response that is not OK throws its `Problem`; ``raw`` returns
 * the Response itself (a stream, a download). */
export async function api(path, { method = "GET", body, secret, raw = false, signal } = {}) {
  const headers = { Authorization: `Bearer ${secret ?? key() ?? ""}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new Problem({ title: "The service could not be reached", detail: String(err.message || err) }, 0);
  }
  if (!response.ok) throw await problemOf(response);
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

/** Show ``err`` (a Problem or any error) in the page's alert box: its title and detail, never a blank page. */
export function showProblem(err, box = $("#problem")) {
  if (err?.name === "AbortError") return;
  const p = err instanceof Problem ? err : new Problem({ title: "Something went wrong", detail: String(err) }, 0);
  box.replaceChildren(
    el("strong", { class: "problem-title" }, p.title),
    p.status ? el("span", { class: "hint" }, ` (${p.status})`) : "",
    p.detail ? el("p", { class: "problem-detail" }, p.detail) : "",
    p.errors.length ? el("ul", {}, p.errors.map((e) => el("li", {}, `${(e.loc || []).join(".")}: ${e.msg}`))) : "",
    p.requestId ? el("p", { class: "hint" }, `request id ${p.requestId}`) : "",
    p.status === 401 && document.body.dataset.page !== "signin"
      ? el("p", {}, el("a", { href: signinUrl() }, "Sign in again")) : "",
  );
  box.hidden = false;
}

export function clearProblem(box = $("#problem")) {
  box.hidden = true;
  box.replaceChildren();
}

function signinUrl() {
  return `/console/signin?next=${encodeURIComponent(location.pathname + location.search)}`;
}

/** Every page but sign-in: go to sign-in without a key; show who is signed in; hide admin controls from agents. */
export function initPage() {
  if (!key()) {
    location.replace(signinUrl());
    return false;
  }
  const who = me();
  if (who) $("#who").textContent = `${who.tenant} · ${who.scopes.join(", ")}${who.name ? ` · ${who.name}` : ""}`;
  for (const node of document.querySelectorAll("[data-admin]")) node.hidden = !isAdmin();
  $("#signout")?.addEventListener("click", () => {
    signOut();
    location.assign("/console/signin");
  });
  return true;
}

/** Run an async handler with ``button`` disabled (a double click does it once); problems go to the alert box. */
export function guarded(button, handler) {
  return async (event) => {
    event?.preventDefault();
    if (button.disabled) return;
    button.disabled = true;
    clearProblem();
    try {
      await handler(event);
    } catch (err) {
      showProblem(err);
    } finally {
      button.disabled = false;
    }
  };
}

export const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

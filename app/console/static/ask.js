// Ask: POST /v1/ask/stream read as it arrives — the stages, the draft typing, then the verdict and the answer with
// its [E#] citations as links into the source documents, the plan, what was left out, and the timings.
import { $, api, clearProblem, el, initPage, Problem, showProblem } from "./api.js";
import { readEvents } from "./sse.js";
import { initViewer, parseSource, sourceLink } from "./viewer.js";

const STAGES = ["queued", "retrieve", "pack", "generate", "verify"];
let running = null; // the AbortController of the answer being streamed
let lastVerdict = { withdrawn: [] }; // the verdict event's, for the answer that follows it

function resetResult() {
  $("#result").hidden = false;
  $("#stages").replaceChildren(...STAGES.map((s) => el("li", { "data-stage": s, class: "pending" }, s)));
  for (const id of ["#draft", "#answer", "#verdict", "#plan", "#left-out", "#citations", "#timings"]) {
    $(id).replaceChildren();
  }
  $("#verdict").className = "verdict";
  $("#plan-box").hidden = $("#left-out-box").hidden = true;
  $("#draft-box").hidden = false;
}

function onStage(data) {
  const li = $(`#stages [data-stage="${data.stage}"]`);
  if (!li) return;
  const done = data.status === "done" || data.stage === "queued";
  li.className = done ? "done" : "running";
  const extra = [data.attempt > 1 ? `attempt ${data.attempt}` : "", data.ms !== undefined ? `${Math.round(data.ms)} ms` : ""];
  li.replaceChildren(data.stage, ...extra.filter(Boolean).map((x) => el("span", { class: "hint" }, ` ${x}`)));
}

let attempt = 0;
function onToken(data) {
  if (data.attempt !== attempt) {  // a retry after a failed verification writes a new draft
    attempt = data.attempt;
    $("#draft").replaceChildren();
  }
  $("#draft").append(data.text);
}

function onVerdict(v) {
  const box = $("#verdict");
  let text = "Verified: every claim is supported by the cited records.";
  let kind = "ok";
  if (v.fallback) [text, kind] = ["Not verified: the draft was replaced by the records' timeline.", "warn"];
  else if (v.partial) [text, kind] = ["Partly verified: clauses the records do not support were left out.", "warn"];
  else if (!v.verified) [text, kind] = ["Not verified: some claims are not supported by the records.", "bad"];
  box.className = `verdict ${kind}`;
  box.replaceChildren(el("strong", {}, text), v.attempts > 1 ? el("span", { class: "hint" }, ` (${v.attempts} drafts)`) : "");
  lastVerdict = v;
  $("#left-out").replaceChildren(...(v.withdrawn || []).map((c) => el("li", {}, c)));
  $("#left-out-box").hidden = !(v.withdrawn || []).length;
}

/** The answer's text with each [E#] a link to its record inside its document. */
function linked(text, byLabel) {
  const out = [];
  let at = 0;
  for (const m of text.matchAll(/\[(E\d+)\]/g)) {
    out.push(text.slice(at, m.index));
    const ev = byLabel.get(m[1]);
    out.push(ev ? sourceLink(parseSource(ev.source), m[0], `${ev.source}: ${ev.text.slice(0, 200)}`) : m[0]);
    at = m.index + m[0].length;
  }
  out.push(text.slice(at));
  return out;
}

/** What the answer leaves out: the drafts' unsupported claims, and the parts of the question not answered. */
function leftOut(a, withdrawn) {
  const parts = (a.plan || []).filter((line) => / -> not answered/.test(line)).map((line) => `Not answered: ${line}`);
  const items = [...withdrawn, ...parts];
  $("#left-out").replaceChildren(...items.map((c) => el("li", {}, c)));
  $("#left-out-box").hidden = !items.length;
  if (parts.length && !a.verified && !a.fallback && !a.partial) {
    $("#verdict").replaceChildren(el("strong", {}, "Not verified: part of the question could not be answered from " +
      "the records (see below)."));
  }
}

function onAnswer(a) {
  leftOut(a, lastVerdict.withdrawn || []);
  const byLabel = new Map((a.context?.evidence || []).filter((e) => e.label).map((e) => [e.label, e]));
  $("#answer").replaceChildren(...linked(a.answer, byLabel));
  $("#draft-box").hidden = true;
  $("#plan").replaceChildren(...(a.plan || []).map((line) => el("li", {}, line)));
  $("#plan-box").hidden = !(a.plan || []).length;
  const labelOf = new Map([...byLabel].map(([label, e]) => [e.id, label]));
  $("#citations").replaceChildren(...a.citations.map((c) => el("li", {},
    labelOf.has(c.id) ? el("span", { class: "label" }, `[${labelOf.get(c.id)}] `) : "",
    sourceLink(parseSource(c.source), c.source), el("blockquote", {}, c.text.slice(0, 400)))));
  if (!a.citations.length) $("#citations").append(el("li", { class: "hint" }, "none"));
}

function onDone(d) {
  const rows = [["time to first token", d.ttft_ms], ...Object.entries(d.timings_ms || {})]
    .filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => [k.replaceAll("_", " "), `${Math.round(v)} ms`]);
  rows.push(["context", `${d.context_tokens} tokens`], ["index", d.index_version], ["cached", d.cached ? "yes" : "no"]);
  $("#timings").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

const HANDLERS = { stage: onStage, token: onToken, verdict: onVerdict, answer: onAnswer, done: onDone };

async function ask(event) {
  event.preventDefault();
  if (running) return; // a double click asks once
  const question = $("#question").value.trim();
  if (!question) return;
  clearProblem();
  running = new AbortController();
  $("#ask").disabled = true;
  $("#stop").disabled = false;
  attempt = 0;
  lastVerdict = { withdrawn: [] };
  resetResult();
  const body = { question, mode: $("#mode").value, rerank: $("#rerank").checked, use_cache: $("#use-cache").checked };
  let finished = false;
  try {
    const response = await api("/v1/ask/stream", { method: "POST", body, raw: true, signal: running.signal });
    for await (const { event: name, data } of readEvents(response)) {
      if (name === "error") throw new Problem({ title: "The answer failed", ...data }, data.status);
      HANDLERS[name]?.(data);
      if (name === "done") finished = true;
    }
    if (!finished) throw new Problem({ title: "The stream ended early", detail: "the connection closed before the answer; ask again" }, 0);
  } catch (err) {
    if (err.name === "AbortError") showProblem(new Problem({ title: "Stopped", detail: "the answer was abandoned" }, 0));
    else if (err instanceof Problem) showProblem(err);
    else showProblem(new Problem({ title: "The connection was lost", detail: `the answer stopped arriving (${err.message}); ask again` }, 0));
  } finally {
    running = null;
    $("#ask").disabled = false;
    $("#stop").disabled = true;
  }
}

if (initPage()) {
  initViewer();
  $("#ask-form").addEventListener("submit", ask);
  $("#question").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("#ask-form").requestSubmit();
  });
  $("#stop").addEventListener("click", () => running?.abort());
}

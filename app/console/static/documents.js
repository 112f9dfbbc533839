// Documents: upload files or a folder (POST /v1/documents, one file at a time, with progress), list and delete,
// search the records, the index versions, and for admins a reindex with live status and rollback.
import { $, api, clearProblem, el, guarded, initPage, isAdmin, key, Problem, problemOf, showProblem, sleep, when } from "./api.js";
import { initViewer, parseSource, sourceLink } from "./viewer.js";

const SUFFIXES = [".jsonl", ".csv", ".md", ".txt", ".log"];
const MAX_BYTES = 8 * 2 ** 20; // the API's default limit on a request body (LONGHAUL_MAX_BODY_BYTES)
const docPath = (id) => id.split("/").map(encodeURIComponent).join("/");

function size(n) {
  return n < 1024 ? `${n} B` : n < 2 ** 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 2 ** 20).toFixed(1)} MiB`;
}

/** POST one document with XMLHttpRequest (fetch reports no upload progress); resolves to the ingest report. */
function post(id, body, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/documents");
    xhr.setRequestHeader("Authorization", `Bearer ${key()}`);
    xhr.setRequestHeader("Content-Type", "application/json");
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onerror = () => reject(new Problem({ title: "The service could not be reached", detail: `uploading ${id}` }, 0));
    xhr.onload = async () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve(JSON.parse(xhr.responseText));
      reject(await problemOf(new Response(xhr.responseText, { status: xhr.status, statusText: xhr.statusText })));
    };
    xhr.send(body);
  });
}

async function upload() {
  const files = [...$("#files").files, ...$("#folder").files];
  if (!files.length) throw new Problem({ title: "Nothing to upload", detail: "choose files or a folder first" }, 0);
  const prefix = $("#prefix").value.trim().replace(/^\/+|\/+$/g, "");
  const list = $("#uploads");
  list.replaceChildren();
  let failed = 0;
  for (const file of files) {
    const id = [prefix, file.webkitRelativePath || file.name].filter(Boolean).join("/");
    const bar = el("progress", { max: "1", value: "0", "aria-label": `upload of ${id}` });
    const note = el("span", { class: "hint" }, " waiting");
    list.append(el("li", {}, el("code", {}, id), " ", bar, note));
    if (!SUFFIXES.some((s) => id.endsWith(s))) {
      note.textContent = ` skipped: not one of ${SUFFIXES.join(" ")}`;
      continue;
    }
    if (id.split("/").some((part) => part.startsWith("."))) {
      note.textContent = " skipped: a hidden file";
      continue;
    }
    const body = file.size > MAX_BYTES ? null : JSON.stringify({ id, content: await file.text() });
    if (body === null || new Blob([body]).size > MAX_BYTES) {
      note.textContent = ` skipped: ${size(file.size)} is over the ${size(MAX_BYTES)} limit`;
      continue;
    }
    try {
      note.textContent = " uploading";
      const report = await post(id, body, (f) => { bar.value = f * 0.9; });
      bar.value = 1;
      const issues = report.issues.length ? `, ${report.issues.length} issue(s): ${report.issues.join("; ")}` : "";
      note.textContent = ` done: index ${report.index_version}, ${report.chunks_total} records${issues}`;
    } catch (err) {
      failed += 1;
      note.textContent = ` failed: ${err.title}${err.detail ? ` — ${err.detail}` : ""}`;
      note.className = "bad";
    }
  }
  $("#files").value = $("#folder").value = "";
  await Promise.all([loadDocuments(), loadVersions()]);
  if (failed) showProblem(new Problem({ title: "Some uploads failed", detail: `${failed} of ${files.length}; see the list` }, 0));
}

async function remove(id, button) {
  if (!confirm(`Delete ${id}? Its records leave the index.`)) return;
  await guarded(button, async () => {
    await api(`/v1/documents/${docPath(id)}`, { method: "DELETE" });
    await Promise.all([loadDocuments(), loadVersions()]);
  })();
}

async function loadDocuments() {
  const { total, documents } = await api("/v1/documents?limit=1000");
  $("#doc-count").textContent = `(${total})`;
  const rows = documents.map((d) => el("tr", {},
    el("td", {}, sourceLink({ doc: d.id }, d.id)), el("td", {}, d.doc_type), el("td", { class: "nowrap" }, size(d.size_bytes)),
    el("td", {}, String(d.n_chunks)), el("td", {}, String(d.n_issues)), el("td", {}, when(d.ingested_at)),
    el("td", {}, isAdmin() && d.source === "api"
      ? el("button", { type: "button", class: "quiet", "aria-label": `Delete ${d.id}`,
        onclick: (e) => remove(d.id, e.currentTarget) }, "Delete") : "")));
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: "7", class: "hint" }, "no documents yet")));
  $("#docs tbody").replaceChildren(...rows);
}

async function loadVersions() {
  const { live, versions } = await api("/v1/index/versions");
  const rows = versions.map((v) => el("tr", { class: v.version === live ? "live" : "" },
    el("td", { class: "nowrap" }, v.version || "(building)"), el("td", {}, v.status + (v.detail ? `: ${v.detail}` : "")),
    el("td", {}, String(v.n_chunks)), el("td", {}, when(v.created_at)),
    el("td", {}, isAdmin() && v.on_disk && v.version !== live
      ? el("button", { type: "button", class: "quiet", onclick: (e) => rollback(v.version, e.currentTarget) },
        `Make ${v.version} live`) : "")));
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: "5", class: "hint" }, "no index yet")));
  $("#versions tbody").replaceChildren(...rows);
}

async function rollback(version, button) {
  await guarded(button, async () => {
    await api("/admin/reindex/rollback", { method: "POST", body: { version } });
    $("#reindex-status").textContent = `${version} is live again`;
    await Promise.all([loadVersions(), loadDocuments()]);
  })();
}

async function reindex() {
  const status = $("#reindex-status");
  let row = await api("/admin/reindex", { method: "POST", body: { reembed: $("#reembed").checked } });
  status.textContent = `reindex ${row.id}: ${row.status}…`;
  while (row.status === "building") {
    await sleep(500);
    row = await api(`/admin/reindex/${row.id}`);
    status.textContent = `reindex ${row.id}: ${row.status}${row.index_version ? ` (${row.index_version})` : ""}…`;
  }
  status.textContent = row.status === "live"
    ? `reindex ${row.id}: ${row.index_version} is live with ${row.n_chunks} records`
    : `reindex ${row.id} ${row.status}: ${row.detail || "no detail"}`;
  await loadVersions();
}

async function search() {
  const { hits, index_version: version } = await api("/v1/search", { method: "POST", body: { query: $("#query").value, k: 10 } });
  const items = hits.map((h) => el("li", {}, sourceLink(parseSource(h.source), h.source),
    el("span", { class: "hint" }, ` score ${h.score.toFixed(3)}`), el("blockquote", {}, h.text.slice(0, 300))));
  if (!items.length) items.push(el("li", { class: "hint" }, `nothing found in ${version}`));
  $("#hits").replaceChildren(...items);
}

if (initPage()) {
  initViewer();
  $("#upload-form").addEventListener("submit", guarded($("#upload"), upload));
  $("#search-form").addEventListener("submit", guarded($("#search"), search));
  $("#reindex").addEventListener("click", guarded($("#reindex"), reindex));
  $("#refresh").addEventListener("click", guarded($("#refresh"), () => Promise.all([loadDocuments(), loadVersions()])));
  clearProblem();
  Promise.all([loadDocuments(), loadVersions()]).catch(showProblem);
}

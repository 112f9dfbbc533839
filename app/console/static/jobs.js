// Reconciliation jobs: start one from a query or a list of orders (POST /v1/jobs/reconcile), follow its progress
// (GET /v1/jobs/{id}, polled), its per-item answers with their cited records, cancel, resume and download.
import { $, api, el, guarded, initPage, Problem, showProblem, sleep, when } from "./api.js";
import { docOfRecord, initViewer, sourceLink } from "./viewer.js";

const TERMINAL = ["done", "cancelled", "failed"];
const POLL_MS = 700;
let current = null; // the job shown
let watching = 0; // bumped to stop an older poll loop

function selection() {
  const kind = document.querySelector("input[name=select]:checked").value;
  if (kind === "orders") {
    const orders = $("#orders").value.split(/[\s,;]+/).filter(Boolean);
    if (!orders.length) throw new Problem({ title: "No orders", detail: "list some order ids, or use the query" }, 0);
    return { orders };
  }
  const query = { kind: "delayed_refunds", min_delay_days: Number($("#min-delay").value || 0) };
  if ($("#date-from").value) query.date_from = $("#date-from").value;
  if ($("#date-to").value) query.date_to = $("#date-to").value;
  return { query };
}

async function create() {
  const job = await api("/v1/jobs/reconcile", { method: "POST", body: { question: $("#job-question").value, ...selection() } });
  show(job).catch(showProblem); // polls until the job ends; the form is free again at once
  await loadJobs();
}

const answeredOf = (job) => (job.n_items ? (job.counts.done + job.counts.failed) / job.n_items : 1);

function render(job) {
  current = job;
  $("#job").hidden = false;
  $("#job-h").textContent = `Job ${job.id}`;
  const c = job.counts;
  const answered = answeredOf(job); // not the API's `progress`, which counts cancelled items as finished
  $("#job-progress").value = answered;
  $("#job-pct").textContent = `${Math.floor(answered * 100)}%`;
  $("#job-status").textContent = `${job.status}: ${c.done} done, ${c.failed} failed, ${c.cancelled} cancelled, ` +
    `${c.pending} pending of ${job.n_items} · ${job.runner} runner · started ${when(job.created_at)}` +
    (job.finished_at ? ` · finished ${when(job.finished_at)}` : "");
  $("#job-cancel").hidden = TERMINAL.includes(job.status);
  $("#job-resume").hidden = !(job.status === "cancelled" || (job.status !== "done" && c.pending > 0));
}

async function loadItems(job, mine) {
  const response = await api(`/v1/jobs/${job.id}/results?format=jsonl`, { raw: true });
  const rows = (await response.text()).split("\n").filter(Boolean).map((line) => JSON.parse(line));
  if (mine !== watching) return; // a newer `show` owns the table
  $("#items tbody").replaceChildren(...rows.map((r) => el("tr", { class: r.status },
    el("td", {}, String(r.seq + 1)), el("td", { class: "nowrap" }, r.order_id),
    el("td", {}, r.status + (r.status === "done" ? (r.verified ? " · verified" : " · not verified") : "")),
    el("td", {}, r.answer ?? r.error ?? ""),
    el("td", {}, (r.citations || []).flatMap((id, i) => [i ? ", " : "", sourceLink({ doc: docOfRecord(id), record: id }, id)])))));
}

/** Show ``job`` and poll it until it ends (a newer `show` stops this one). */
async function show(job) {
  const mine = ++watching;
  render(job);
  await loadItems(job, mine);
  let seen = JSON.stringify(job.counts);
  while (!TERMINAL.includes(current.status) && mine === watching) {
    await sleep(POLL_MS);
    if (mine !== watching) return;
    const next = await api(`/v1/jobs/${job.id}`);
    if (mine !== watching) return;
    render(next);
    if (JSON.stringify(next.counts) !== seen || TERMINAL.includes(next.status)) {
      seen = JSON.stringify(next.counts);
      await loadItems(next, mine);
    }
  }
  if (mine === watching) await loadJobs();
}

async function loadJobs() {
  const { jobs } = await api("/v1/jobs?limit=50");
  const rows = jobs.map((j) => el("tr", {},
    el("td", {}, el("a", { href: `#job-${j.id}`, onclick: (e) => { e.preventDefault(); show(j).catch(showProblem); } }, j.id)),
    el("td", {}, j.status), el("td", {}, el("progress", { max: "1", value: String(answeredOf(j)), "aria-label": `job ${j.id}` }),
      ` ${Math.floor(answeredOf(j) * 100)}%`),
    el("td", {}, String(j.n_items)), el("td", {}, when(j.created_at))));
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: "5", class: "hint" }, "no jobs yet")));
  $("#jobs tbody").replaceChildren(...rows);
}

async function act(verb) {
  const job = await api(`/v1/jobs/${current.id}/${verb}`, { method: "POST" });
  show(job).catch(showProblem);
}

async function download(format) {
  const response = await api(`/v1/jobs/${current.id}/results?format=${format}`, { raw: true });
  const url = URL.createObjectURL(await response.blob());
  const link = el("a", { href: url, download: `job-${current.id}.${format}` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

if (initPage()) {
  initViewer();
  $("#job-form").addEventListener("submit", guarded($("#create-job"), create));
  $("#job-cancel").addEventListener("click", guarded($("#job-cancel"), () => act("cancel")));
  $("#job-resume").addEventListener("click", guarded($("#job-resume"), () => act("resume")));
  $("#dl-csv").addEventListener("click", guarded($("#dl-csv"), () => download("csv")));
  $("#dl-jsonl").addEventListener("click", guarded($("#dl-jsonl"), () => download("jsonl")));
  $("#jobs-refresh").addEventListener("click", guarded($("#jobs-refresh"), loadJobs));
  loadJobs().catch(showProblem);
}

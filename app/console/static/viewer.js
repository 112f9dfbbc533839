// A cited record shown inside its source document: GET /v1/documents/{id}/text, the cited lines highlighted
// (a citation's source is "path:first-last"; a job's citation names the record id "path#n").
import { $, api, el, showProblem } from "./api.js";

const WINDOW = 300; // lines shown either side of the cited ones in a long document

export function parseSource(source) {
  const m = /^(.*):(\d+)-(\d+)$/.exec(source || "");
  return m ? { doc: m[1], first: Number(m[2]), last: Number(m[3]) } : { doc: source };
}

export const docOfRecord = (id) => (id.includes("#") ? id.slice(0, id.lastIndexOf("#")) : id);

function viewUrl(where) {
  const q = new URLSearchParams({ doc: where.doc });
  if (where.first) q.set("lines", `${where.first}-${where.last}`);
  if (where.record) q.set("record", where.record);
  return `/console/view?${q}`;
}

/** A link that opens ``where`` ({doc, first?, last?, record?}) in the page's viewer (or the view page). */
export function sourceLink(where, text, title) {
  return el("a", {
    href: viewUrl(where), class: "cite", title,
    onclick: (event) => {
      if (event.ctrlKey || event.metaKey || event.shiftKey || !$("#viewer")) return;
      event.preventDefault();
      openViewer(where);
    },
  }, text);
}

export async function openViewer(where) {
  const aside = $("#viewer");
  aside.hidden = false;
  const lines = $("#viewer-lines");
  $("#viewer-where").textContent = `${where.doc}${where.first ? `:${where.first}-${where.last}` : ""} · loading…`;
  lines.replaceChildren();
  let doc;
  try {
    doc = await api(`/v1/documents/${where.doc.split("/").map(encodeURIComponent).join("/")}/text`);
  } catch (err) {
    $("#viewer-where").textContent = where.doc;
    showProblem(err);
    return;
  }
  let { first, last } = where;
  if (where.record) {
    const rec = doc.records.find((r) => r.id === where.record);
    if (rec) ({ first, last } = rec);
  }
  const all = doc.text.split(/\r?\n/);
  if (all.length && all[all.length - 1] === "") all.pop();
  const from = first ? Math.max(1, first - WINDOW) : 1;
  const to = first ? Math.min(all.length, last + WINDOW) : Math.min(all.length, 2 * WINDOW);
  const cited = (n) => first && n >= first && n <= last;
  const items = [];
  for (let n = from; n <= to; n++) {
    const text = all[n - 1] ?? "";
    items.push(el("li", { id: `L${n}`, class: cited(n) ? "hl" : "" },
      el("span", { class: "n", "aria-hidden": "true" }, String(n)),
      cited(n) ? el("mark", {}, text || " ") : el("code", {}, text || " ")));
  }
  lines.replaceChildren(...items);
  const span = first ? `:${first}-${last}` : "";
  const more = from > 1 || to < all.length ? ` · lines ${from}–${to} of ${all.length}` : "";
  $("#viewer-where").textContent = `${doc.id}${span}${more}${doc.truncated ? " · truncated" : ""}`;
  $("#viewer-where").dataset.doc = doc.id;
  aside.focus({ preventScroll: true });
  if (first) lines.querySelector(`#L${first}`)?.scrollIntoView({ block: "center" });
}

export function initViewer() {
  $("#viewer-close")?.addEventListener("click", () => { $("#viewer").hidden = true; });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && $("#viewer") && !$("#viewer").hidden) $("#viewer").hidden = true;
  });
}

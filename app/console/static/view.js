// The view page: one document, the lines named in the address highlighted (a citation opened in its own tab).
import { initPage } from "./api.js";
import { initViewer, openViewer } from "./viewer.js";

if (initPage()) {
  initViewer();
  const q = new URLSearchParams(location.search);
  const [first, last] = (q.get("lines") || "").split("-").map(Number);
  if (q.get("doc")) openViewer({ doc: q.get("doc"), first: first || undefined, last: last || first, record: q.get("record") || undefined });
}

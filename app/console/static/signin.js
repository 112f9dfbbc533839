// Sign in: the key is checked against GET /v1/me, then kept in sessionStorage for this tab.
import { $, clearProblem, showProblem, signIn } from "./api.js";

const form = $("#signin-form");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = $("#signin");
  if (button.disabled) return;
  button.disabled = true;
  clearProblem();
  try {
    await signIn($("#key").value.trim());
    const next = new URLSearchParams(location.search).get("next") || "";
    location.assign(next.startsWith("/console/") ? next : "/console/ask");
  } catch (err) {
    showProblem(err);
    $("#key").select();
  } finally {
    button.disabled = false;
  }
});

"""Issue 24, item 1: the console at /console in real headless Chromium, against the real API over a fake engine:
sign in, ask and watch the answer stream in with a citation highlighted in its document, upload and search, a job
run to 100%, a bad key's problem, and tenant B never shown tenant A's documents. One browser for the module.

Screenshots go to $LONGHAUL_SCREENSHOTS when it is set (`docs/console` refreshes the README's), else a temp dir."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.console import Bench, bench, chromium_path, launch, screenshot
from tests.helpers.live import LiveApp

QUESTION = ("Why was the refund for order #100231 delayed in March 2021, and did the same carrier pattern appear for "
            "other orders in 2021?")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    app, b = bench(tmp_path_factory.mktemp("console"))
    with LiveApp(app) as live:
        b.url = live.url
        yield b


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, env: Bench) -> Iterator[Any]:
    # bypass_csp: the console's CSP forbids eval, which Playwright's wait_for_function uses in the page
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=env.url, accept_downloads=True,
                                  bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"the console's scripts failed: {errors}"


def sign_in(page: Any, secret: str, then: str = "ask") -> None:
    """Keyboard only: type the key, press Enter."""
    page.goto(f"/console/signin?next=/console/{then}")
    page.locator("#key").fill(secret)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: url.split("?")[0].endswith(f"/console/{then}"))
    page.locator("#who", has_text="·").wait_for()


def test_sign_in_and_ask_streams_the_draft_then_the_verdict_with_a_highlighted_citation(page: Any, env: Bench) -> None:
    sign_in(page, env.keys["acme:agent"])
    assert "acme" in page.locator("#who").inner_text()
    asked = len(env.llm.generations)
    page.locator("#question").fill(QUESTION)
    page.locator("#ask").dblclick()  # asked once
    # the draft types while the answer is not there yet
    page.wait_for_function("document.querySelector('#draft').textContent.length > 0 && "
                           "!document.querySelector('#answer').textContent")
    page.locator("#timings dt").first.wait_for()
    assert len(env.llm.generations) == asked + 1
    assert page.locator("#stages li.done").count() == 5
    answer = page.locator("#answer")
    assert "Order #100231 was scanned EX-71 at LEJ1" in answer.inner_text()
    assert "Not verified" in page.locator("#verdict").inner_text()  # the second part is not in the records
    assert page.locator("#plan li").count() == 2
    assert "Not answered" in page.locator("#left-out").inner_text()
    assert "time to first token" in page.locator("#timings").inner_text()
    cite = answer.locator("a.cite").first
    assert re.fullmatch(r"\[E\d+\]", cite.inner_text())
    cite.focus()
    page.keyboard.press("Enter")  # keyboard: the citation opens its record in its document
    page.locator("#viewer li.hl").first.wait_for()
    assert page.locator("#viewer-where").inner_text().startswith("scans/march.log:2-2")
    highlighted = page.locator("#viewer li.hl")
    assert highlighted.count() == 1 and "order #100231 scanned EX-71" in highlighted.inner_text()
    assert page.locator("#viewer li").count() == 8  # the whole document around it
    screenshot(page, env.shots, "ask")
    page.goto("/console/view?doc=scans/march.log&lines=4-5")  # a citation opened in a tab of its own
    page.locator("#viewer li.hl").first.wait_for()
    assert page.locator("#viewer li.hl").count() == 2
    screenshot(page, env.shots, "view")


def test_a_bad_key_and_a_refused_question_show_the_problem_title_and_detail(page: Any, env: Bench) -> None:
    page.goto("/console/documents")
    page.wait_for_url("**/console/signin?next=*")  # no key: sign in first
    page.locator("#key").fill("lh_not-a-real-key")
    page.keyboard.press("Enter")
    problem = page.locator("#problem")
    problem.wait_for()
    assert "Unauthorized" in problem.inner_text() and "unknown or revoked" in problem.inner_text()
    assert "/console/signin" in page.url
    screenshot(page, env.shots, "signin")
    sign_in(page, env.keys["initech:agent"])  # a tenant without documents: the ask is refused with a problem
    page.locator("#question").fill("What was scanned for order #100231?")
    page.keyboard.press("Control+Enter")
    problem.wait_for()
    assert "Conflict" in problem.inner_text() and "has no documents yet" in problem.inner_text()
    assert not page.locator("#ask").is_disabled()  # ready to ask again


def test_upload_is_listed_searchable_and_reindexed(page: Any, env: Bench) -> None:
    sign_in(page, env.keys["acme:admin"], then="documents")
    page.locator("#docs tbody tr").first.wait_for()
    page.locator("#prefix").fill("notes")
    page.locator("#files").set_input_files([
        {"name": "quokka.md", "mimeType": "text/markdown",
         "buffer": b"# Carrier note\n\nParcels for order #100235 held at QUOKKA-42 pending a customs check.\n"},
        {"name": "manual.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4"}])
    page.locator("#upload").click()
    uploads = page.locator("#uploads")
    page.wait_for_function("document.querySelector('#uploads').textContent.includes('done:')")
    assert "skipped: not one of" in uploads.inner_text()  # the .pdf
    page.locator("#docs tbody", has_text="notes/quokka.md").wait_for()
    page.locator("#query").fill("QUOKKA-42 customs")
    page.keyboard.press("Enter")
    hit = page.locator("#hits li a.cite").first
    hit.wait_for()
    assert hit.inner_text().startswith("notes/quokka.md:")
    hit.click()
    page.locator("#viewer li.hl", has_text="QUOKKA-42").wait_for()
    before = page.locator("#versions tbody tr").count()
    page.locator("#reindex").click()
    page.wait_for_function("/is live with/.test(document.querySelector('#reindex-status').textContent)")
    page.wait_for_function(f"document.querySelectorAll('#versions tbody tr').length > {before}")
    screenshot(page, env.shots, "documents")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete notes/quokka.md").click()
    page.wait_for_function("!document.querySelector('#docs tbody').textContent.includes('notes/quokka.md')")


def test_a_job_runs_to_100_percent_with_cited_answers(page: Any, env: Bench) -> None:
    sign_in(page, env.keys["acme:agent"], then="jobs")
    page.locator("input[name=select][value=orders]").check()
    page.locator("#orders").fill("#100231 #100232 #100233")
    page.locator("#create-job").click()
    page.wait_for_function("document.querySelector('#job-pct').textContent === '100%'")
    rows = page.locator("#items tbody tr")
    page.wait_for_function("document.querySelectorAll('#items tbody tr.done').length === 3")
    assert "Order #100232 was scanned EX-72" in rows.nth(1).inner_text()
    assert "done: 3 done" in page.locator("#job-status").inner_text()
    rows.nth(1).locator("a.cite").click()
    page.locator("#viewer li.hl", has_text="order #100232 scanned EX-72").wait_for()
    with page.expect_download() as download:
        page.locator("#dl-csv").click()
    assert download.value.suggested_filename.endswith(".csv")
    assert "order_id" in open(download.value.path()).read()
    assert page.locator("#jobs tbody tr").count() >= 1
    screenshot(page, env.shots, "jobs")


def test_a_job_is_cancelled_then_resumed_to_100_percent(page: Any, env: Bench) -> None:
    sign_in(page, env.keys["acme:agent"], then="jobs")
    page.locator("input[name=select][value=orders]").check()
    page.locator("#orders").fill(" ".join(f"#1002{n:02d}" for n in range(30, 38)) + " #555001 #555002 #555003")
    page.locator("#create-job").click()
    page.locator("#job-cancel").click()  # at once: most items are still pending
    page.wait_for_function("document.querySelector('#job-status').textContent.startsWith('cancelled')")
    assert page.locator("#job-pct").inner_text() != "100%" and page.locator("#job-cancel").is_hidden()
    page.locator("#items tbody tr.cancelled").first.wait_for()
    page.locator("#job-resume").click()
    page.wait_for_function("document.querySelector('#job-pct').textContent === '100%' && "
                           "document.querySelector('#job-status').textContent.startsWith('done')")
    page.wait_for_function("document.querySelectorAll('#items tbody tr.done').length === 11")
    assert page.locator("#items tbody tr.cancelled").count() == 0


def test_tenant_b_never_sees_tenant_a_documents(page: Any, env: Bench) -> None:
    sign_in(page, env.keys["globex:admin"], then="documents")
    table = page.locator("#docs tbody")
    table.locator("tr", has_text="notes/vault.md").wait_for()
    assert "scans/march.log" not in table.inner_text()
    page.locator("#query").fill("order #100231 scanned EX-71")
    page.keyboard.press("Enter")
    page.locator("#hits li").first.wait_for()
    assert "march.log" not in page.locator("#hits").inner_text()
    page.goto("/console/view?doc=scans/march.log&lines=2-2")  # tenant A's document by its id
    problem = page.locator("#problem")
    problem.wait_for()
    assert "Not Found" in problem.inner_text() and "EX-71" not in page.content()
    page.goto("/console/ask")
    page.locator("#question").fill("What was scanned for order #100231?")
    page.keyboard.press("Control+Enter")
    page.locator("#timings dt").first.wait_for()
    assert "EX-71" not in page.locator("#result").inner_text()
    assert "march.log" not in page.locator("#result").inner_text()


def test_the_pages_run_under_their_content_security_policy(browser: Any, env: Bench) -> None:
    """Without the tests' CSP bypass: no inline script, eval or outside asset is refused on any page."""
    context = browser.new_context(base_url=env.url)
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda msg: refused.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: refused.append(str(exc)))
    try:
        sign_in(page, env.keys["acme:admin"], then="documents")
        page.locator("#docs tbody tr").first.wait_for()
        for name in ("jobs", "ask", "view"):
            page.goto(f"/console/{name}?doc=scans/march.log")
            page.wait_for_load_state("networkidle")
    finally:
        context.close()
    assert not refused, refused

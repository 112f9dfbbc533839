"""The console's test bench: two tenants' documents behind the real API (real index, hash embedder, a fake engine
that cites the record of the order it is asked about) served by uvicorn in a thread, and headless Chromium.

Chromium is Debian's package (`apt-get install -y chromium`; `.ci/run` installs it), driven by Playwright's Python
package; under CI=true a missing one fails the tests instead of skipping them."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from app.api.main import create_app
from app.core.settings import Settings
from app.services.answers import Pipeline
from app.services.retrievers import RetrieverCache
from tests.helpers.answers import CitingGenerator
from tests.helpers.fakes import HashEmbedder
from tests.helpers.sql import new_key

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCAN_LOG = "".join(f"2021-03-0{i + 1}T10:00:00 order #10023{i} scanned EX-7{i} at LEJ{i} by carrier DHX\n"
                   for i in range(8))
GLOBEX_NOTE = "# Globex vault\n\nGlobex vault note: order #777001 was rerouted through the ZEPHYR-9931 facility.\n"


class OrderGenerator(CitingGenerator):
    """`CitingGenerator` for whichever order the question names (a job asks about several)."""

    def order_in(self, prompt: str) -> str:
        asked = [m for line in prompt.splitlines() if not line.startswith("[E") for m in re.findall(r"#\d{6}", line)]
        return asked[-1] if asked else self.order


@dataclass
class Bench:
    url: str
    keys: dict[str, str]  # "acme:admin", "acme:agent", "globex:admin", "initech:agent" (no documents) -> secret
    llm: OrderGenerator
    shots: Path  # where screenshots go


def bench(tmp: Path) -> tuple[FastAPI, Bench]:
    """The app (serve it with `LiveApp` and set ``Bench.url``) with acme's scan log and globex's note ingested."""
    settings = Settings(data_dir=tmp / "data")
    embedder = HashEmbedder()
    retrievers = RetrieverCache(settings, embedder=embedder)
    llm = OrderGenerator(delay_s=0.04)
    pipeline = Pipeline(llm=llm, retrievers=retrievers, max_question_chars=4000)
    app = create_app(settings, pipeline=pipeline, embedder=embedder, retrievers=retrievers)
    store = app.state.longhaul.store
    store.put("acme", "scans/march.log", SCAN_LOG)
    store.put("globex", "notes/vault.md", GLOBEX_NOTE)
    keys = {f"{t}:{s}": new_key(settings, t, [s], name=f"{t} {s}")[0]
            for t, s in (("acme", "admin"), ("acme", "agent"), ("globex", "admin"), ("initech", "agent"))}
    shots = Path(os.environ.get("LONGHAUL_SCREENSHOTS") or tmp / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    return app, Bench("", keys, llm, shots)


def chromium_path() -> str:
    """Debian's chromium; fails under CI=true when it is missing, else skips."""
    found = os.environ.get("LONGHAUL_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    why = None
    if not found:
        why = "chromium is not installed: apt-get install -y chromium (.ci/run installs it)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            why = "the playwright package is missing: pip install -e '.[dev]'"
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run: {why}", pytrace=False)
        pytest.skip(why)
    return str(found)


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)


def screenshot(page: Any, shots: Path, name: str) -> None:
    """A small PNG of the page as shown (palette-quantized when Pillow is there)."""
    path = shots / f"{name}.png"
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path))
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as img:
        img.convert("RGB").quantize(colors=96).save(path, optimize=True)

"""Issue 24, item 1: the console's pages and every asset they load are served from the package (offline: no CDN),
under a content security policy that allows nothing from elsewhere."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.console.pages import HERE, PAGES, install


def _client() -> TestClient:
    app = FastAPI()
    install(app)
    return TestClient(app)


def test_every_page_and_asset_is_served_from_the_package() -> None:
    client = _client()
    assert client.get("/console", follow_redirects=False).headers["location"] == "/console/ask"
    for name in PAGES:
        page = client.get(f"/console/{name}")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"], name
        assert "default-src 'self'" in page.headers["content-security-policy"]
        for asset in re.findall(r'(?:href|src)="(/console/static/[^"]+|http[^"]+)"', page.text):
            assert asset.startswith("/console/static/"), asset  # same origin, whatever the scheme in front
            assert client.get(asset).status_code == 200, asset
    assets = [p for p in HERE.rglob("*") if p.suffix in (".js", ".css", ".html")]
    assert len(assets) >= 10
    for path in assets:  # offline: nothing is loaded from elsewhere
        text = path.read_text()
        assert not re.search(r"(?:src|href)=[\"']https?://|@import|https?://[\w.-]+/[\w/.-]+\.(?:js|css)", text), path
        for module in re.findall(r'from "\./([\w-]+\.js)"', text):  # the modules a script imports are there too
            assert client.get(f"/console/static/{module}").status_code == 200, (path.name, module)

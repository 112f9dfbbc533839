"""Issue 24, item 1, the API under the console: the documents list, a document's text with its records' lines, the
index versions and the calling key, each for the key's tenant only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.helpers.console import Bench, bench


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Bench]]:
    app, b = bench(tmp_path_factory.mktemp("console-api"))
    with TestClient(app) as client:
        yield client, b


def _auth(b: Bench, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {b.keys[who]}"}


def test_the_documents_list_and_a_documents_text_with_its_records_lines(api: tuple[TestClient, Bench]) -> None:
    client, b = api
    listed = client.get("/v1/documents", headers=_auth(b, "acme:agent")).json()
    assert listed["total"] == 1 and [d["id"] for d in listed["documents"]] == ["scans/march.log"]
    assert listed["documents"][0]["source"] == "api" and listed["documents"][0]["n_chunks"] == 8
    doc = client.get("/v1/documents/scans/march.log/text", headers=_auth(b, "acme:agent")).json()
    lines = doc["text"].splitlines()
    assert len(lines) == 8 and not doc["truncated"]
    ask = client.post("/v1/ask", headers=_auth(b, "acme:agent"),
                      json={"question": "What was scanned for order #100232?", "use_cache": False}).json()
    cited = ask["citations"][0]
    first, last = map(int, cited["source"].rsplit(":", 1)[1].split("-"))
    assert cited["text"] in "\n".join(lines[first - 1:last])  # the citation's lines hold its record
    record = next(r for r in doc["records"] if r["id"] == cited["id"])
    assert (record["first"], record["last"]) == (first, last)
    assert client.get("/v1/documents/scans/march.log", headers=_auth(b, "acme:agent")).json()["doc_type"] == "scan"


def test_another_tenants_document_is_not_found_and_never_listed(api: tuple[TestClient, Bench]) -> None:
    client, b = api
    globex = _auth(b, "globex:admin")
    assert [d["id"] for d in client.get("/v1/documents", headers=globex).json()["documents"]] == ["notes/vault.md"]
    r = client.get("/v1/documents/scans/march.log/text", headers=globex)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert "EX-7" not in r.text
    assert client.get("/v1/documents/../secrets.md/text", headers=globex).status_code in (404, 422)
    assert client.get("/v1/documents", headers={"Authorization": "Bearer lh_nope"}).status_code == 401


def test_the_index_versions_and_the_calling_key(api: tuple[TestClient, Bench]) -> None:
    client, b = api
    versions = client.get("/v1/index/versions", headers=_auth(b, "acme:agent")).json()
    assert versions["live"] == versions["versions"][0]["version"]
    assert versions["versions"][0]["status"] == "live" and versions["versions"][0]["on_disk"]
    me = client.get("/v1/me", headers=_auth(b, "globex:admin")).json()
    assert me["tenant"] == "globex" and me["scopes"] == ["admin"] and "secret" not in str(me)

"""Documents and admin reindex against a real uvicorn: add, read, delete, and a reindex under continuous queries."""

from __future__ import annotations

import threading
import time

import httpx

from tests.helpers.server import ApiEnv, Server
from tests.helpers.sql import new_key

NOTE = "# Initech memo\n\nOrder #555123 was held at dock 7 because the QUASAR-4410 pallet label was unreadable.\n"
ASK = {"question": "Why was order #555123 held at dock 7?", "mode": "retrieval_only", "rerank": False,
       "use_cache": False}


def _keys(api_env: ApiEnv, tenant: str) -> tuple[dict[str, str], dict[str, str]]:
    admin, _ = new_key(api_env.settings, tenant, ["admin"])
    agent, _ = new_key(api_env.settings, tenant, ["agent"])
    return {"Authorization": f"Bearer {admin}"}, {"Authorization": f"Bearer {agent}"}


def test_add_read_delete_document(server: Server, api_env: ApiEnv) -> None:
    admin, agent = _keys(api_env, "initech")
    r = httpx.post(server.url + "/v1/documents", json={"id": "memos/dock7.md", "content": NOTE}, headers=admin,
                   timeout=180)
    assert r.status_code == 201, r.text
    assert r.json()["files_new"] == 1 and r.json()["chunks_total"] >= 1
    extra = {"id": "memos/other.txt", "content": "Order #555999 left on time from RNO1.\n"}
    assert httpx.post(server.url + "/v1/documents", json=extra, headers=admin, timeout=180).status_code == 201
    doc = httpx.get(server.url + "/v1/documents/memos/dock7.md", headers=agent).json()
    assert doc["tenant"] == "initech" and doc["n_chunks"] >= 1
    ans = httpx.post(server.url + "/v1/ask", json=ASK, headers=agent, timeout=120).json()
    assert any("QUASAR-4410" in c["text"] for c in ans["citations"])

    r = httpx.delete(server.url + "/v1/documents/memos/dock7.md", headers=admin, timeout=180)
    assert r.status_code == 200 and r.json()["files_deleted"] == 1
    assert httpx.get(server.url + "/v1/documents/memos/dock7.md", headers=agent).status_code == 404
    assert httpx.delete(server.url + "/v1/documents/memos/dock7.md", headers=admin).status_code == 404
    ans = httpx.post(server.url + "/v1/ask", json=ASK, headers=agent, timeout=120).json()
    assert "QUASAR-4410" not in str(ans["citations"])


def test_bad_document_ids_are_422(server: Server, api_env: ApiEnv) -> None:
    for bad in ("../escape.md", "/abs.md", "notes/x.exe", "a//b.md"):
        r = httpx.post(server.url + "/v1/documents", json={"id": bad, "content": "x"},
                       headers=api_env.auth("acme:admin"))
        assert r.status_code == 422, (bad, r.text)


def test_reindex_ids_beyond_the_database_integer_are_422_not_500(server: Server, api_env: ApiEnv) -> None:
    for bad in (2**63, 0, -1):  # 2**63 crashed SQLite's INTEGER binding (found by schemathesis)
        r = httpx.get(f"{server.url}/admin/reindex/{bad}", headers=api_env.auth("acme:admin"))
        assert r.status_code == 422 and r.json()["status"] == 422, (bad, r.text)


def test_reindex_under_continuous_queries_fails_none(server: Server, api_env: ApiEnv) -> None:
    admin, agent = _keys(api_env, "hooli")
    r = httpx.post(server.url + "/v1/documents", json={"id": "memos/dock7.md", "content": NOTE}, headers=admin,
                   timeout=180)
    assert r.status_code == 201
    before = r.json()["index_version"]
    statuses: list[int] = []
    versions: set[str] = set()
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(timeout=120) as c:
            while not stop.is_set():
                resp = c.post(server.url + "/v1/ask", json=ASK, headers=agent)
                statuses.append(resp.status_code)
                if resp.status_code == 200:
                    versions.add(resp.json()["index_version"])
                    assert "QUASAR-4410" in str(resp.json()["citations"])

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        r = httpx.post(server.url + "/admin/reindex", json={"reembed": True}, headers=admin)
        assert r.status_code == 202 and r.json()["status"] == "building"
        rid = r.json()["id"]
        deadline = time.monotonic() + 180
        while (status := httpx.get(f"{server.url}/admin/reindex/{rid}", headers=admin).json())["status"] == "building":
            assert time.monotonic() < deadline
            time.sleep(0.3)
        assert status["status"] == "live" and status["index_version"] != before
        time.sleep(1.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert statuses and set(statuses) == {200}
    assert versions == {before, status["index_version"]} or versions == {status["index_version"]}
    other = httpx.get(f"{server.url}/admin/reindex/{rid}", headers=api_env.auth("acme:admin"))
    assert other.status_code == 404

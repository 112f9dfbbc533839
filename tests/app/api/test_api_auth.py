"""Bearer API keys against a real uvicorn: 401/403 problems, revocation, and tenant isolation."""

from __future__ import annotations

import httpx

from app.core.db import Database
from app.services.keys import list_keys, revoke_key
from tests.helpers.server import GLOBEX_SECRET, ApiEnv, Server
from tests.helpers.sql import new_key

ASK = {"question": "Which order was rerouted through the ZEPHYR-9931 bonded facility?", "mode": "retrieval_only",
       "rerank": False, "use_cache": False}


def test_missing_and_unknown_keys_get_401_problems(server: Server) -> None:
    r = httpx.post(server.url + "/v1/ask", json=ASK)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["status"] == 401 and r.json()["title"] == "Unauthorized"
    r = httpx.post(server.url + "/v1/ask", json=ASK, headers={"Authorization": "Bearer lh_not-a-real-key"})
    assert r.status_code == 401 and "unknown or revoked" in r.json()["detail"]


def test_revoked_key_is_refused(server: Server, api_env: ApiEnv) -> None:
    secret, info = new_key(api_env.settings, "acme", ["agent"], name="short-lived")
    headers = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(server.url + "/v1/documents/policies/POL-REFUND_v3.md", headers=headers).status_code == 200
    with Database.of(api_env.settings) as db, db.sessions() as s:
        assert revoke_key(s, info.id)
        assert httpx.get(server.url + "/v1/documents/policies/POL-REFUND_v3.md", headers=headers).status_code == 401
        listed = {k.id: k for k in list_keys(s, "acme")}
    assert listed[info.id].revoked and secret not in repr(listed[info.id])


def test_agent_scope_cannot_write_documents(server: Server, api_env: ApiEnv) -> None:
    doc = {"id": "x.md", "content": "x"}
    r = httpx.post(server.url + "/v1/documents", json=doc, headers=api_env.auth("acme:agent"))
    assert r.status_code == 403 and "admin" in r.json()["detail"]
    r = httpx.post(server.url + "/admin/reindex", json={}, headers=api_env.auth("acme:agent"))
    assert r.status_code == 403


def test_a_key_never_sees_another_tenants_documents(server: Server, api_env: ApiEnv) -> None:
    own = httpx.get(server.url + "/v1/documents/notes/vault.md", headers=api_env.auth("globex:agent"))
    assert own.status_code == 200 and own.json()["tenant"] == "globex"
    for who in ("acme:agent", "acme:admin"):
        r = httpx.get(server.url + "/v1/documents/notes/vault.md", headers=api_env.auth(who))
        assert r.status_code == 404, r.text
    r = httpx.delete(server.url + "/v1/documents/notes/vault.md", headers=api_env.auth("acme:admin"))
    assert r.status_code == 404
    still = httpx.get(server.url + "/v1/documents/notes/vault.md", headers=api_env.auth("globex:agent"))
    assert still.status_code == 200


def test_a_key_never_gets_another_tenants_evidence(server: Server, api_env: ApiEnv) -> None:
    mine = httpx.post(server.url + "/v1/ask", json=ASK, headers=api_env.auth("globex:agent"), timeout=120)
    assert mine.status_code == 200, mine.text
    assert any("ZEPHYR-9931" in c["text"] for c in mine.json()["citations"])
    theirs = httpx.post(server.url + "/v1/ask", json=ASK, headers=api_env.auth("acme:agent"), timeout=120)
    assert theirs.status_code == 200, theirs.text
    body = theirs.json()
    assert body["tenant"] == "acme" and body["citations"]
    assert "ZEPHYR-9931" not in theirs.text and GLOBEX_SECRET not in theirs.text

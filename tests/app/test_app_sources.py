"""One document store per tenant, a source per document: a CLI-ingested folder and API uploads never delete each
other's documents (issue 20, finding 1); kept index versions can be made live again."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.api.main import create_app
from app.core.db import Database
from app.core.rows import DocumentRow
from app.core.settings import Settings
from app.core.tenants import index_root
from app.services.ingest import ingest_directory
from app.services.retrievers import RetrieverCache
from retrieval.index import live_dir, load_chunks, versions
from retrieval.rerank import KeyMatchReranker
from tests.helpers.corpus_fixture import write_fixture_corpus
from tests.helpers.fakes import HashEmbedder
from tests.helpers.sql import new_key

MEMO = "# Initech memo\n\nOrder #555123 was held at dock 7 because the QUASAR-4410 pallet label was unreadable.\n"


async def _calls(app: Any, headers: dict[str, str], *calls: tuple[str, str, Any]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=120) as c:
        return [await c.request(method, url, json=body, headers=headers) for method, url, body in calls]


def _docs(settings: Settings, tenant: str) -> dict[str, str]:
    with Database.of(settings) as db, db.sessions() as s:
        return {d.id: d.source for d in s.scalars(select(DocumentRow).where(DocumentRow.tenant_id == tenant))}


def _live_doc_ids(settings: Settings, tenant: str) -> set[str]:
    return {c.doc_id for c in load_chunks(live_dir(index_root(settings, tenant)))}


def test_cli_documents_survive_api_upload_and_delete(tmp_path: Path) -> None:
    facts = write_fixture_corpus(tmp_path / "corpus", n_orders=16)
    folder = tmp_path / "corpus" / "docs"
    settings = Settings(data_dir=tmp_path / "data")
    emb = HashEmbedder()
    with Database.of(settings) as db:
        first = ingest_directory(folder, "acme", settings, db.sessions, embedder=emb)
    cli_docs = set(_docs(settings, "acme"))
    assert first.files_new == len(cli_docs) > 5 and _live_doc_ids(settings, "acme") <= cli_docs

    app = create_app(settings, embedder=emb)
    secret, _ = new_key(settings, "acme", ["admin"])
    cli_doc = sorted(cli_docs)[0]
    up, gone, not_mine, replace = asyncio.run(_calls(
        app, {"Authorization": f"Bearer {secret}"},
        ("POST", "/v1/documents", {"id": "memos/dock7.md", "content": MEMO}),
        ("DELETE", "/v1/documents/memos/dock7.md", None),
        ("DELETE", f"/v1/documents/{cli_doc}", None),
        ("POST", "/v1/documents", {"id": cli_doc, "content": "overwritten"})))
    assert up.status_code == 201 and up.json()["files_deleted"] == 0, up.text
    assert up.json()["chunks_total"] > first.chunks_total
    assert gone.status_code == 200 and gone.json()["files_deleted"] == 1
    assert gone.json()["chunks_total"] == first.chunks_total
    assert not_mine.status_code == 409 and "ingested from dir:" in not_mine.json()["detail"]
    assert replace.status_code == 409, replace.text
    assert set(_docs(settings, "acme")) == cli_docs
    assert _live_doc_ids(settings, "acme") == {c.doc_id for c in load_chunks(index_root(settings, "acme") /
                                                                           first.version)}
    order, line = facts["needle"]  # type: ignore[misc]
    hits = RetrieverCache(settings, embedder=emb, reranker=KeyMatchReranker()).live("acme").search(line, k=3)
    assert line in hits[0].text

    # an API document survives the folder's re-ingest; the folder's own deletion removes only its file
    (up2,) = asyncio.run(_calls(app, {"Authorization": f"Bearer {secret}"},
                                ("POST", "/v1/documents", {"id": "memos/dock7.md", "content": MEMO})))
    assert up2.status_code == 201
    (folder / cli_doc).unlink()
    with Database.of(settings) as db:
        again = ingest_directory(folder, "acme", settings, db.sessions, embedder=emb)
    assert again.files_deleted == 1 and again.files_new == 0
    assert _docs(settings, "acme") == {**{d: f"dir:{folder.resolve()}" for d in cli_docs - {cli_doc}},
                                       "memos/dock7.md": "api"}

    # another folder may not take over an id this one owns
    other = tmp_path / "other"
    (other / "memos").mkdir(parents=True)
    (other / "memos" / "dock7.md").write_text("# another memo\n\nnothing to see\n")
    (other / "memos" / "new.md").write_text("# new memo\n\nOrder #777001 arrived.\n")
    with Database.of(settings) as db:
        third = ingest_directory(other, "acme", settings, db.sessions, embedder=emb)
    assert any("memos/dock7.md" in i and "already ingested from api" in i for i in third.issues)
    assert third.files_new == 1 and third.files_deleted == 0
    assert _docs(settings, "acme")["memos/dock7.md"] == "api"
    assert _live_doc_ids(settings, "acme") >= (cli_docs - {cli_doc}) | {"memos/dock7.md", "memos/new.md"}


def test_kept_versions_can_be_made_live_again(tmp_path: Path, monkeypatch: Any) -> None:
    from typer.testing import CliRunner

    from app.cli import cli

    settings = Settings(data_dir=tmp_path / "data", index_keep_versions=2)
    emb = HashEmbedder()
    app = create_app(settings, embedder=emb)
    secret, _ = new_key(settings, "acme", ["admin"])
    headers = {"Authorization": f"Bearer {secret}"}
    r1, r2, r3 = asyncio.run(_calls(app, headers, *(
        ("POST", "/v1/documents", {"id": f"memos/m{i}.md", "content": f"# memo {i}\n\nOrder #55512{i} held.\n"})
        for i in range(3))))
    assert [r.json()["index_version"] for r in (r1, r2, r3)] == ["v000001", "v000002", "v000003"]
    root = index_root(settings, "acme")
    assert versions(root) == ["v000002", "v000003"]  # LONGHAUL_INDEX_KEEP_VERSIONS=2

    back, unknown = asyncio.run(_calls(app, headers, ("POST", "/admin/reindex/rollback", {"version": "v000002"}),
                                       ("POST", "/admin/reindex/rollback", {"version": "v000001"})))
    assert back.status_code == 200 and back.json() == {"tenant": "acme", "index_version": "v000002",
                                                        "previous": "v000003"}
    assert unknown.status_code == 404 and "kept: v000002, v000003" in unknown.json()["detail"]
    assert _live_doc_ids(settings, "acme") == {"memos/m0.md", "memos/m1.md"}
    assert set(_docs(settings, "acme")) == {"memos/m0.md", "memos/m1.md"}  # the records follow the version

    monkeypatch.setenv("LONGHAUL_DATA_DIR", str(settings.data_dir))
    out = CliRunner().invoke(cli, ["reindex", "--tenant", "acme", "--to", "v000003", "--json"])
    assert out.exit_code == 0, out.output
    assert '"index_version": "v000003"' in out.output.splitlines()[-1]
    assert set(_docs(settings, "acme")) == {"memos/m0.md", "memos/m1.md", "memos/m2.md"}
    out = CliRunner().invoke(cli, ["reindex", "--tenant", "acme", "--json"])
    assert out.exit_code == 0, out.output
    assert '"index_version": "v000004"' in out.output.splitlines()[-1]
    assert _live_doc_ids(settings, "acme") == {"memos/m0.md", "memos/m1.md", "memos/m2.md"}


def test_a_moved_folder_keeps_its_documents_under_its_old_source_name(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    old, new = tmp_path / "old", tmp_path / "new"
    (old / "notes").mkdir(parents=True)
    (old / "notes" / "a.md").write_text("# A\n\nOrder #100200 shipped from LEJ1.\n")
    emb = HashEmbedder()
    with Database.of(settings) as db:
        ingest_directory(old, "acme", settings, db.sessions, embedder=emb)
        old.rename(new)
        moved = ingest_directory(new, "acme", settings, db.sessions, embedder=emb)
        assert moved.files_new == 0 and any("already ingested from dir:" in i for i in moved.issues)
        named = ingest_directory(new, "acme", settings, db.sessions, embedder=emb, source=f"dir:{old.resolve()}")
        assert named.unchanged and not named.issues
        with pytest.raises(ValueError, match="names the API uploads"):
            ingest_directory(new, "acme", settings, db.sessions, embedder=emb, source="api")
    assert _docs(settings, "acme") == {"notes/a.md": f"dir:{old.resolve()}"}

"""Property-based requests from the OpenAPI document (schemathesis): no 5xx, and every response conforms to the
documented status codes, content types and schemas. The stages are fast doubles so the HTTP contract is what runs."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from app.api.main import create_app
from app.core.settings import Settings
from app.services.answers import Answer, AskOptions
from tests.helpers.answers import FakeRetriever
from tests.helpers.fakes import HashEmbedder, OneVersion
from tests.helpers.sql import new_key


class SearchableVersion(OneVersion):
    """One live version whose retriever finds a few fixed records (POST /v1/search)."""

    def get(self, tenant: str, version: str) -> FakeRetriever:  # type: ignore[override]
        return FakeRetriever(version)


class InstantPipeline:
    retrievers = SearchableVersion()

    def ask(self, question: str, tenant: str, options: AskOptions | None = None, *, version: str) -> Answer:
        mode = (options or AskOptions()).mode
        ev = [{"id": "c1", "source": "notes/a.md", "text": "evidence"}]
        return Answer(question, tenant, mode, "an answer", True, False, ev, ev, 12, {"retrieve": 1.0, "total": 2.0},
                      index_version=version)


_dir = Path(tempfile.mkdtemp(prefix="lh-schemathesis-"))
_settings = Settings(data_dir=_dir)
_root = _settings.tenant_dir("acme") / "index"
(_root / "v000001").mkdir(parents=True)
(_root / "LIVE").write_text("v000001")
SECRET, _ = new_key(_settings, "acme", ["admin"])
app = create_app(_settings, pipeline=InstantPipeline(), embedder=HashEmbedder())
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.mark.filterwarnings("ignore")
@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_and_never_5xx(case: schemathesis.Case) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {SECRET}"}, checks=CHECKS)

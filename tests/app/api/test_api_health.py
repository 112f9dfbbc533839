"""/healthz, /readyz, /metrics and the OpenAPI document of the real server."""

from __future__ import annotations

import httpx

from tests.helpers.server import Server

ROUTES = {"/v1/ask", "/v1/ask/stream", "/v1/documents", "/v1/documents/{doc_id}", "/admin/reindex",
          "/admin/reindex/{reindex_id}", "/healthz", "/readyz", "/metrics"}


def test_health_and_ready(server: Server) -> None:
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok", "checks": {}}
    ready = httpx.get(server.url + "/readyz").json()
    assert ready["status"] == "ok" and ready["checks"] == {"database": True, "redis": None}


def test_metrics_are_prometheus_text(server: Server) -> None:
    httpx.get(server.url + "/healthz")
    r = httpx.get(server.url + "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    for name in ("longhaul_http_request_seconds_bucket", "longhaul_engine_queue_depth",
                 "# TYPE longhaul_pipeline_stage_seconds histogram", "# TYPE longhaul_tokens_total counter"):
        assert name in r.text


def test_openapi_documents_every_route_and_problem(server: Server) -> None:
    spec = httpx.get(server.url + "/openapi.json").json()
    assert ROUTES <= set(spec["paths"])
    ask = spec["paths"]["/v1/ask"]["post"]
    assert {"401", "403", "409", "413", "422", "429"} <= set(ask["responses"])
    assert "application/problem+json" in ask["responses"]["422"]["content"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_unknown_route_is_a_404_problem_with_request_id(server: Server) -> None:
    r = httpx.get(server.url + "/v1/nope", headers={"X-Request-ID": "trace-123"})
    assert r.status_code == 404 and r.json()["request_id"] == "trace-123"
    assert r.headers["x-request-id"] == "trace-123"

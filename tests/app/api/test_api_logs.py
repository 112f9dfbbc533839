"""Structured JSON log lines carry the request id of the request being served."""

from __future__ import annotations

import json
import logging

from app.core.logs import JsonFormatter, request_id


def test_json_log_line_has_request_id_and_fields() -> None:
    record = logging.LogRecord("app.api", logging.INFO, __file__, 1, "POST %s %d", ("/v1/ask", 200), None)
    record.fields = {"ms": 12.5, "route": "/v1/ask"}
    token = request_id.set("req-42")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert line["msg"] == "POST /v1/ask 200" and line["request_id"] == "req-42"
    assert line["level"] == "info" and line["ms"] == 12.5 and line["ts"].endswith("Z")
    assert json.loads(JsonFormatter().format(record))["request_id"] == "-"

"""Service benchmark over HTTP only (no app imports): closed-loop clients at several concurrency levels for a
fixed time against `POST /v1/ask`; requests/s, latency p50/p99, 5xx, 429s and lost requests per level; and the time
to first token of streamed answers (`POST /v1/ask/stream`) for the modes that generate.

A *lost* request is one sent that never got an HTTP response (connection error or client timeout).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import httpx


@dataclass
class Level:
    mode: str
    concurrency: int
    seconds: float
    requests: int
    ok: int
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    errors_5xx: int
    rejected_429: int
    other_4xx: int
    lost: int
    cached: int


def _pct(xs: Sequence[float], q: float) -> float | None:
    if not xs:
        return None
    ordered = sorted(xs)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


async def run_level(url: str, key: str, questions: Sequence[str], mode: str, concurrency: int, seconds: float,
                    timeout_s: float = 600.0, extra: dict[str, Any] | None = None) -> Level:
    codes: Counter[int] = Counter()
    latencies: list[float] = []
    lost = cached = 0
    cycle = itertools.cycle(questions)
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def client(c: httpx.AsyncClient) -> None:
        nonlocal lost, cached
        while time.perf_counter() < stop_at:
            body = {"question": next(cycle), "mode": mode, "use_cache": False, **(extra or {})}
            t = time.perf_counter()
            try:
                r = await c.post(url + "/v1/ask", json=body)
            except httpx.HTTPError:
                lost += 1
                continue
            codes[r.status_code] += 1
            if r.status_code == 200:
                latencies.append((time.perf_counter() - t) * 1e3)
                cached += bool(r.json().get("cached"))
            elif r.status_code == 429:
                await asyncio.sleep(min(float(r.headers.get("retry-after", "1")), 2.0))

    headers = {"Authorization": f"Bearer {key}"}
    t0 = time.perf_counter()
    async with httpx.AsyncClient(headers=headers, timeout=timeout_s, limits=limits) as c:
        await asyncio.gather(*(client(c) for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    n = sum(codes.values()) + lost
    return Level(mode, concurrency, round(elapsed, 2), n, codes[200], round(codes[200] / elapsed, 2),
                 _pct(latencies, 0.5), _pct(latencies, 0.99), sum(v for k, v in codes.items() if k >= 500),
                 codes[429], sum(v for k, v in codes.items() if 400 <= k < 500 and k != 429), lost, cached)


def first_tokens(url: str, key: str, questions: Sequence[str], mode: str, n: int,
                 extra: dict[str, Any] | None = None, timeout_s: float = 600.0) -> dict[str, Any]:
    """Time to first token over `POST /v1/ask/stream`, ``n`` questions one at a time: measured here (request sent
    to the first `token` event read) and by the server (``ttft_ms`` of its `done` event), next to the whole
    answer's time; medians. A question answered without the model (from the records) has no first token."""
    client_ms: list[float] = []
    server_ms: list[float] = []
    total_ms: list[float] = []
    headers = {"Authorization": f"Bearer {key}"}
    for question in list(itertools.islice(itertools.cycle(questions), n)):
        body = {"question": question, "mode": mode, "use_cache": False, **(extra or {})}
        t = time.perf_counter()
        event, first = "", None
        with httpx.stream("POST", url + "/v1/ask/stream", json=body, headers=headers, timeout=timeout_s) as r:
            for line in r.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                    if event == "token" and first is None:
                        first = (time.perf_counter() - t) * 1e3
                elif line.startswith("data: ") and event == "done":
                    done = json.loads(line[6:])
                    if done.get("ttft_ms") is not None:
                        server_ms.append(done["ttft_ms"])
        total_ms.append((time.perf_counter() - t) * 1e3)
        if first is not None:
            client_ms.append(first)
    return {"mode": mode, "requests": len(total_ms), "with_tokens": len(client_ms),
            "client_ttft_p50_ms": _pct(client_ms, 0.5), "server_ttft_p50_ms": _pct(server_ms, 0.5),
            "total_p50_ms": _pct(total_ms, 0.5)}


def run(url: str, key: str, questions: Sequence[str], modes: Sequence[str], levels: Sequence[int], seconds: float,
        extra: dict[str, Any] | None = None, warmup: bool = True, ttft_requests: int = 3) -> dict[str, Any]:
    """Every mode x concurrency level in turn; returns the summary with ``levels`` (one object per run) and, for
    the modes that generate, ``ttft`` (time to first token of ``ttft_requests`` streamed answers, one at a time)."""
    out, ttft = [], []
    for mode in modes:
        if warmup:  # load the models before timing
            body = {"question": questions[0], "mode": mode, "use_cache": False, **(extra or {})}
            httpx.post(url + "/v1/ask", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=600)
        if mode != "retrieval_only" and ttft_requests > 0:
            ttft.append(first_tokens(url, key, questions, mode, ttft_requests, extra=extra))
        for n in levels:
            out.append(asdict(asyncio.run(run_level(url, key, questions, mode, n, seconds, extra=extra))))
    c8 = next((x for x in out if x["mode"] == "retrieval_only" and x["concurrency"] == 8), {})
    return {
        "ttft": ttft,
        "errors_5xx": sum(x["errors_5xx"] for x in out),
        "lost_requests": sum(x["lost"] for x in out),
        "rejected_429": sum(x["rejected_429"] for x in out),
        "retrieval_p50_ms_c8": c8.get("p50_ms"),
        "retrieval_rps_c8": c8.get("rps"),
        "levels": out,
        "median_rps": statistics.median([x["rps"] for x in out]) if out else None,
    }

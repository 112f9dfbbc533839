"""Query latency while a large document is ingested, over HTTP (issue 20: one document must not stall everyone).

One client asks retrieval-only questions on a quiet tenant, back to back: first with nothing else running (the
idle p99), then while one upload of a large document runs on another tenant (the busy p99). The upload's wall
time is measured by the client. Talks HTTP only: the server is started by whoever calls `measure`.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

from retrieval.embed import DIM

WORDS = ("carton pallet dock scan label route hold release manifest invoice refund carrier depot freight parcel "
         "crate batch shelf aisle bay gate truck van ramp seal tape wrap sort pick pack ship ledger entry note").split()


class HashingEmbedder:
    """Bag-of-words feature hashing into ``DIM`` unit vectors: the ingest's cost without MiniLM's (chunking,
    indexing, SQL), so the isolation is measured apart from the model's throughput. Picklable (it crosses into the
    writer process)."""

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """``(len(texts), DIM)`` float32 unit vectors; ``progress`` after every 64 texts."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little") % DIM] += 1
            out[i] /= max(float(np.linalg.norm(out[i])), 1e-9)
            if progress and (i + 1) % 64 == 0:
                progress(64)
        if progress and len(texts) % 64:
            progress(len(texts) % 64)
        return out

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


def quiet_corpus(n_docs: int = 40, seed: int = 11) -> tuple[dict[str, str], list[str]]:
    """Small notes for the tenant that is asked (doc id -> text) and one question per note."""
    rng = random.Random(seed)
    docs, questions = {}, []
    for i in range(n_docs):
        lines = [" ".join(rng.choice(WORDS) for _ in range(12)) + f" ref {rng.randrange(10**6)}." for _ in range(6)]
        docs[f"notes/n{i:03d}.md"] = f"# Note {i}\n\n" + "\n".join(lines) + "\n"
        questions.append("what about " + " ".join(lines[rng.randrange(6)].split()[:6]))
    return docs, questions


def single_line_document(n_bytes: int, seed: int = 7) -> str:
    """``n_bytes`` of words and numbers on one line, no newline (the shape that once stalled the chunker)."""
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    while size < n_bytes:
        word = rng.choice(WORDS) if rng.random() < 0.8 else str(rng.randrange(10**7))
        parts.append(word)
        size += len(word) + 1
    return " ".join(parts)[:n_bytes]


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


@dataclass
class Plan:
    url: str
    quiet_key: str  # an agent key of the tenant that is asked
    busy_key: str  # an admin key of the tenant that ingests
    questions: list[str]
    document: str
    doc_id: str = "bulk/one-line.txt"
    idle_asks: int = 200
    min_busy_asks: int = 20


def _ask(client: httpx.Client, plan: Plan, i: int) -> float:
    t = time.perf_counter()
    r = client.post("/v1/ask", json={"question": plan.questions[i % len(plan.questions)], "mode": "retrieval_only"},
                    headers={"Authorization": f"Bearer {plan.quiet_key}"})
    elapsed = (time.perf_counter() - t) * 1e3
    if r.status_code != 200:
        raise RuntimeError(f"ask answered {r.status_code}: {r.text[:300]}")
    return elapsed


def measure(plan: Plan) -> dict[str, Any]:
    """``idle_p99_ms``, ``busy_p99_ms``, their ``ratio``, ``ingest_s`` and the upload's report (chunks)."""
    with httpx.Client(base_url=plan.url, timeout=600) as client:
        for i in range(10):  # warm up: the quiet tenant's retriever is loaded
            _ask(client, plan, i)
        idle = [_ask(client, plan, i) for i in range(plan.idle_asks)]
        outcome: dict[str, Any] = {}

        def upload() -> None:
            t = time.perf_counter()
            try:
                r = httpx.post(plan.url + "/v1/documents", json={"id": plan.doc_id, "content": plan.document},
                               headers={"Authorization": f"Bearer {plan.busy_key}"}, timeout=3600)
                outcome.update(status=r.status_code, body=r.json())
            except httpx.HTTPError as exc:
                outcome.update(status=0, body={"error": str(exc)})
            outcome["seconds"] = time.perf_counter() - t

        worker = threading.Thread(target=upload, name="upload")
        worker.start()
        busy: list[float] = []
        i = 0
        while worker.is_alive() or len(busy) < plan.min_busy_asks:
            busy.append(_ask(client, plan, i))
            i += 1
        worker.join()
    if outcome.get("status") != 201:
        raise RuntimeError(f"the upload answered {outcome.get('status')}: {str(outcome.get('body'))[:300]}")
    body = outcome["body"]
    idle_p99, busy_p99 = percentile(idle, 0.99), percentile(busy, 0.99)
    return {"idle_p50_ms": round(percentile(idle, 0.5), 2), "idle_p99_ms": round(idle_p99, 2),
            "busy_p50_ms": round(percentile(busy, 0.5), 2), "busy_p99_ms": round(busy_p99, 2),
            "ratio": round(busy_p99 / idle_p99, 3), "ingest_s": round(outcome["seconds"], 2),
            "asks_idle": len(idle), "asks_busy": len(busy), "document_bytes": len(plan.document.encode()),
            "chunks_total": body.get("chunks_total"), "chunks_embedded": body.get("chunks_embedded")}

"""Measure the answer pipeline on a generated tenant: gold evidence in the packed context, verification of
correct vs corrupted answers, and answer accuracy / verified rate / latency with the real model.

Nothing here imports ``app``: the command passes in ``context_of(question) -> [{"label", "text"}, ...]`` (the packed
context, no LLM) and ``ask(question) -> dict`` (``Answer.to_json()``), and a ``verify`` function
``(answer, {label: text}, given) -> bool`` (True when verified).
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from packing.claims import Lexicon, extract_claims

# the corruptions' view of world a's answers: which ids are orders and which are exception codes
WORLD_A_CLAIMS = Lexicon(patterns=(("order_id", re.compile(r"#\d{5,7}(?!\d)")), ("code", re.compile(r"\bEX-\d{2}\b"))))

Context = list[dict[str, str]]
ContextOf = Callable[[str], Context]
Verify = Callable[[str, Mapping[str, str], str], bool]
Ask = Callable[[str], dict[str, Any]]

_WS = re.compile(r"\s+")


def _norm(text: str) -> str:
    return _WS.sub(" ", text).strip().lower()


def gold_labels(gold: Sequence[str], context: Context) -> list[str] | None:
    """The packed label holding each gold evidence string (in gold order, deduplicated); None if any is missing."""
    labels: list[str] = []
    for g in gold:
        hit = next((e["label"] for e in context if _norm(g) in _norm(e["text"])), None)
        if hit is None:
            return None
        if hit not in labels:
            labels.append(hit)
    return labels


def gold_in_context(gold: Sequence[str], context: Context) -> bool:
    """Is every gold evidence string inside some packed record?"""
    return gold_labels(gold, context) is not None


def _rate(hits: Iterable[bool]) -> dict[str, float | int]:
    xs = list(hits)
    return {"rate": round(sum(xs) / len(xs), 4) if xs else 0.0, "n": len(xs)}


def score_gold_recall(questions: Sequence[Mapping[str, Any]], context_of: ContextOf) -> dict[str, Any]:
    """``gold_in_context_recall`` overall and per type, with the misses' ids."""
    by_type: dict[str, list[bool]] = defaultdict(list)
    misses: list[str] = []
    for q in questions:
        ok = gold_in_context(q["evidence"], context_of(q["question"]))
        by_type[q["type"]].append(ok)
        if not ok:
            misses.append(q["id"])
    every = [x for v in by_type.values() for x in v]
    return {
        "gold_in_context_recall": _rate(every)["rate"],
        "n": len(every),
        "by_type": {t: _rate(v) for t, v in sorted(by_type.items())},
        "misses": misses,
    }


# ---- corruptions: each returns the answer with one claim of its kind replaced, or None when it has none ----


def _replace_first(answer: str, kind: str, new: Callable[[str], str]) -> str | None:
    for c in extract_claims(answer, WORLD_A_CLAIMS):
        if c.kind == kind:
            i = answer.find(c.text)
            if i >= 0:
                return answer[:i] + new(c.text) + answer[i + len(c.text) :]
    return None


def _bump_digit(s: str, at: int) -> str:
    """Change the digit at index ``at`` (counted from the end among digits) to a different one."""
    idx = [i for i, ch in enumerate(s) if ch.isdigit()]
    i = idx[-1 - at]
    return s[:i] + str((int(s[i]) + 3) % 10) + s[i + 1 :]


def corrupt_order_id(answer: str) -> str | None:
    """A near-duplicate order id: one digit changed (#60930 -> #60933)."""
    return _replace_first(answer, "order_id", lambda t: _bump_digit(t, 0))


def corrupt_date(answer: str) -> str | None:
    """The first full date moved by a few days (its day digit changed, kept a valid day)."""

    def shift(t: str) -> str:
        m = re.search(r"(\d{4})-(\d{2})-(\d{2})", t)
        if m:
            day = int(m.group(3))
            new = day + 3 if day <= 25 else day - 3
            return t[: m.start(3)] + f"{new:02d}" + t[m.end(3) :]
        m = re.search(r"\b(\d{1,2})\b", t)  # "March 4, 2021" / "4 March 2021"
        assert m is not None
        day = int(m.group(1))
        return t[: m.start(1)] + str(day + 3 if day <= 25 else day - 3) + t[m.end(1) :]

    return _replace_first(answer, "date", shift)


def corrupt_amount(answer: str) -> str | None:
    """The first amount with its leading digit changed (408.99 -> 708.99)."""

    def bump(t: str) -> str:
        i = next(i for i, ch in enumerate(t) if ch.isdigit())
        return t[:i] + str((int(t[i]) + 3) % 10 or 1) + t[i + 1 :]

    return _replace_first(answer, "amount", bump)


def corrupt_code(answer: str) -> str | None:
    """The first exception code replaced by another (EX-77 -> EX-80)."""
    return _replace_first(answer, "code", lambda t: _bump_digit(t, 0))


CORRUPTIONS: dict[str, Callable[[str], str | None]] = {
    "order_id": corrupt_order_id,
    "date": corrupt_date,
    "amount": corrupt_amount,
    "code": corrupt_code,
}


def inject_date(answer: str, question: str, evidence: Sequence[str]) -> str | None:
    """For an answer with no date: append the first gold record's date moved by three days."""
    if any(c.kind == "date" for c in extract_claims(answer, WORLD_A_CLAIMS)):
        return None
    m = re.search(r"\d{4}-\d{2}-\d{2}", " ".join(evidence))
    return None if m is None else corrupt_date(f"{answer.rstrip()} (on {m.group(0)})")


def inject_order_id(answer: str, question: str, evidence: Sequence[str]) -> str | None:
    """For an answer with no order id: append a near-duplicate of the question's order id."""
    if any(c.kind == "order_id" for c in extract_claims(answer, WORLD_A_CLAIMS)):
        return None
    m = re.search(r"#\d{5,7}(?!\d)", question)
    return None if m is None else corrupt_order_id(f"{answer.rstrip()} (order {m.group(0)})")


INJECTIONS: dict[str, Callable[[str, str, Sequence[str]], str | None]] = {
    "inject_date": inject_date,
    "inject_order_id": inject_order_id,
}


def cite(answer: str, labels: Sequence[str]) -> str:
    return f"{answer.rstrip()} [{', '.join(labels)}]"


def score_verification(questions: Sequence[Mapping[str, Any]], context_of: ContextOf, verify: Verify) -> dict[str, Any]:
    """Cite the gold records' labels on each ground-truth answer; verify it (a flag is a false flag), then each
    applicable corruption (a flag is a catch). Questions whose gold is not all packed are skipped."""
    false_flags: list[bool] = []
    caught: dict[str, list[bool]] = defaultdict(list)
    false_ids: list[str] = []
    missed: list[str] = []
    skipped = 0
    for q in questions:
        context = context_of(q["question"])
        labels = gold_labels(q["evidence"], context)
        if labels is None:
            skipped += 1
            continue
        texts = {e["label"]: e["text"] for e in context}
        flagged = not verify(cite(q["answer"], labels), texts, q["question"])
        false_flags.append(flagged)
        if flagged:
            false_ids.append(q["id"])
        variants = [(kind, fn(q["answer"])) for kind, fn in CORRUPTIONS.items()]
        variants += [(kind, fn(q["answer"], q["question"], q["evidence"])) for kind, fn in INJECTIONS.items()]
        for kind, bad in variants:
            if bad is None or bad == q["answer"]:
                continue
            hit = not verify(cite(bad, labels), texts, q["question"])
            caught[kind].append(hit)
            if not hit:
                missed.append(f"{q['id']}:{kind}")
    every = [x for v in caught.values() for x in v]
    return {
        "verify_false_flag_rate": _rate(false_flags)["rate"],
        "n_correct": len(false_flags),
        "verify_flag_rate_corrupted": _rate(every)["rate"],
        "n_corrupted": len(every),
        "flag_rate_by_corruption": {k: _rate(v) for k, v in sorted(caught.items())},
        "skipped_gold_not_packed": skipped,
        "false_flag_ids": false_ids,
        "missed_corruptions": missed,
    }


def _number_in(number: str, text: str) -> bool:
    """A bare number accepted only as a standalone token: "5" is not in "#12853", "E5" or "2017-01-15"."""
    return re.search(rf"(?<![\w#.\-]){number}(?![\w\-]|\.\d)", text) is not None


def is_correct(answer: str, accept: Sequence[str], match: str = "all") -> bool:
    """The question's accept rule: case-insensitive substrings, all of them (``all``) or any one (``any``); a bare
    number (a count, a number of days) must stand alone, else "5" would match any order id or date."""
    a = answer.lower()
    hits = [_number_in(s, a) if s.isdigit() else s.lower() in a for s in accept]
    return any(hits) if match == "any" else all(hits)


def pick_per_type(questions: Sequence[Mapping[str, Any]], per_type: int) -> list[Mapping[str, Any]]:
    seen: dict[str, int] = defaultdict(int)
    out = []
    for q in questions:
        if seen[q["type"]] < per_type:
            seen[q["type"]] += 1
            out.append(q)
    return out


def score_answers(questions: Sequence[Mapping[str, Any]], ask: Ask) -> dict[str, Any]:
    """``accuracy_by_type`` (scored on the final answer, fallbacks count as wrong unless they match), verified rate
    and per-stage latency (median ms) from the real pipeline."""
    acc: dict[str, list[bool]] = defaultdict(list)
    ver: dict[str, list[bool]] = defaultdict(list)
    stages: dict[str, list[float]] = defaultdict(list)
    rows = []
    for q in questions:
        out = ask(q["question"])
        ok = is_correct(out["answer"], q["accept"], q.get("match", "all")) and not out.get("fallback", False)
        acc[q["type"]].append(ok)
        ver[q["type"]].append(bool(out.get("verified")))
        for k, v in out.get("timings_ms", {}).items():
            stages[k].append(float(v))
        rows.append(
            {
                "id": q["id"],
                "type": q["type"],
                "correct": ok,
                "verified": out.get("verified"),
                "fallback": out.get("fallback"),
                "answer": out["answer"][:300],
                "total_ms": round(out.get("timings_ms", {}).get("total", 0.0)),
            }
        )
    every = [x for v in acc.values() for x in v]
    every_v = [x for v in ver.values() for x in v]
    false_verified = [bool(r["verified"]) and not r["correct"] for r in rows]
    return {
        "accuracy": _rate(every)["rate"],
        "false_verified_rate": _rate(false_verified)["rate"],
        "n": len(every),
        "accuracy_by_type": {t: _rate(v) for t, v in sorted(acc.items())},
        "verified_rate": _rate(every_v)["rate"],
        "verified_by_type": {t: _rate(v) for t, v in sorted(ver.items())},
        "latency_ms_median": {k: round(statistics.median(v), 1) for k, v in stages.items()},
        "items": rows,
    }

"""Merge `longhaul eval kv --task domain` runs done in pieces (and kvpress rows on the same items) into the
record-aware policy's results file, with the issue's headline keys.

    python -m eval.kv.records_report OUT piece1.json piece2.json ... [--peer kvpress_rows.json ...]

Rows are pooled by (model, budget, question placement, policy, ratio, KV dtype) over their items
(``correct_by_item``); an item run twice counts once. ``records4x_rel_acc``: records@4 (question inside) accuracy
over the full cache's on the same items; ``records4x_minus_best_kvpress``: records@4 accuracy minus the best
kvpress press at 4x on the items both ran (None, with the reason, when no kvpress row is given).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

KEY = ("model", "budget", "question", "policy", "ratio", "kv_dtype", "system")


def pool(rows: Sequence[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, bool]]:
    """Per-item correctness of each configuration, over every row of it."""
    out: dict[tuple[Any, ...], dict[str, bool]] = {}
    for r in rows:
        if "correct_by_item" not in r:
            raise ValueError(f"row {r.get('policy')} has no correct_by_item: rerun it with this eval version")
        out.setdefault(tuple(r.get(k) for k in KEY), {}).update(r["correct_by_item"])
    return out


def accuracy(items: dict[str, bool], keys: Sequence[str] | None = None) -> float | None:
    keys = list(items) if keys is None else [k for k in keys if k in items]
    return sum(items[k] for k in keys) / len(keys) if keys else None


def merge(pieces: Sequence[dict[str, Any]], peer_rows: Sequence[dict[str, Any]] = (),
          peer_missing: str = "") -> dict[str, Any]:
    ours = pool([dict(r, system="longhaul") for p in pieces for r in p["rows"]])
    peers = pool([dict(r, system="kvpress") for r in peer_rows])
    table = []
    for key, items in sorted({**ours, **peers}.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
        model, budget, question, policy, ratio, dtype, system = key
        full = ours.get((model, budget, "inside", "full", 1.0, "model", "longhaul"), {})
        same = [k for k in items if k in full]
        acc, full_acc = accuracy(items), accuracy(full, same)
        table.append({"system": system, "model": model, "budget": budget, "question": question, "policy": policy,
                      "ratio": ratio, "kv_dtype": dtype, "n": len(items), "accuracy": round(acc or 0.0, 3),
                      "full_acc_same_items": None if full_acc is None else round(full_acc, 3),
                      "rel_acc": round(acc_on(items, same) / full_acc, 3) if full_acc else None,
                      "correct_by_item": items})
    return {"rows": table, **headline(ours, peers, peer_missing)}


def acc_on(items: dict[str, bool], keys: Sequence[str]) -> float:
    return sum(items[k] for k in keys) / len(keys) if keys else 0.0


def _pooled(rows: dict[tuple[Any, ...], dict[str, bool]], question: str, policy: str, ratio: float,
            system: str = "longhaul") -> dict[str, bool]:
    """One configuration's items over every budget (item keys name their budget)."""
    out: dict[str, bool] = {}
    for (_, _, q, p, r, dtype, s), items in rows.items():
        if (q, p, r, dtype, s) == (question, policy, ratio, "model", system):
            out.update(items)
    return out


def headline(ours: dict[tuple[Any, ...], dict[str, bool]], peers: dict[tuple[Any, ...], dict[str, bool]],
             peer_missing: str) -> dict[str, Any]:
    full, rec = _pooled(ours, "inside", "full", 1.0), _pooled(ours, "inside", "records", 4.0)
    same = [k for k in rec if k in full]
    full_acc = acc_on(full, same)
    out: dict[str, Any] = {
        "records4x_n": len(same), "records4x_acc": round(acc_on(rec, same), 3) if same else None,
        "full_acc": round(full_acc, 3) if same else None,
        "records4x_rel_acc": round(acc_on(rec, same) / full_acc, 3) if same and full_acc else None,
    }
    for label, (q, pol, r) in {"snapkv4x": ("inside", "snapkv", 4.0), "chunkkv4x": ("inside", "chunkkv", 4.0),
                               "records8x": ("inside", "records", 8.0),
                               "records_head4x": ("inside", "records-head", 4.0),
                               "records4x_outside": ("outside", "records", 4.0),
                               "records_agnostic4x_outside": ("outside", "records-agnostic", 4.0)}.items():
        items = _pooled(ours, q, pol, r)
        keys = [k for k in items if k in full]
        out[f"{label}_rel_acc"] = round(acc_on(items, keys) / acc_on(full, keys), 3) if keys and acc_on(
            full, keys) else None
        out[f"{label}_n"] = len(keys)
    best, best_acc, best_keys = None, -1.0, []
    for (_, _, q, p, r, _, _), _items in peers.items():
        if r != 4.0 or p == "full":
            continue
        items = _pooled(peers, q, p, r, "kvpress")
        keys = [k for k in items if k in rec]
        if keys and acc_on(items, keys) > best_acc:
            best, best_acc, best_keys = f"{q}/{p}", acc_on(items, keys), keys
    if best is None:
        out["records4x_minus_best_kvpress"] = None
        out["records4x_minus_best_kvpress_reason"] = peer_missing or "no kvpress row at 4x on the same items"
    else:
        out["records4x_minus_best_kvpress"] = round(acc_on(rec, best_keys) - best_acc, 3)
        out["best_kvpress_press"] = best
        out["best_kvpress_acc"] = round(best_acc, 3)
        out["best_kvpress_n"] = len(best_keys)
    return out


def main(argv: Sequence[str]) -> None:
    if len(argv) < 2:
        raise SystemExit(__doc__)
    out, rest = argv[0], list(argv[1:])
    peer_files = [rest[i + 1] for i, a in enumerate(rest) if a == "--peer"]
    notes = next((rest[i + 1] for i, a in enumerate(rest) if a == "--notes"), "")
    piece_files = [a for i, a in enumerate(rest) if a not in ("--peer", "--notes")
                   and (i == 0 or rest[i - 1] not in ("--peer", "--notes"))]
    pieces = [json.loads(Path(f).read_text()) for f in piece_files]
    peer_rows = [r for f in peer_files for r in json.loads(Path(f).read_text())["rows"]]
    report = merge(pieces, peer_rows, "" if peer_files else "kvpress was not run on these items")
    report = {"command": "python -m eval.kv.records_report " + " ".join(argv), "notes": notes,
              "pieces": [{k: p.get(k) for k in ("command", "date", "load_average_start", "load_average_end",
                                                "machine", "threads", "model", "notes")} for p in pieces],
              **report}
    Path(out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k not in ("rows", "pieces")}))


if __name__ == "__main__":
    main(sys.argv[1:])

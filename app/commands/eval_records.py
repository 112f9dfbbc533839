"""`longhaul eval records`: the questions the records answer (lists, counts, "did the same ... appear", lookups about
one order, the policy version in force), scored
against the ground truth without the model: how many are taken by the records path, how many of those are right,
and how many are marked verified while wrong."""

from __future__ import annotations

import json
import platform
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from app.commands.options import TenantOption, demo_questions, tenant_or_default


def register(evals: typer.Typer) -> None:
    @evals.command("records")
    def records(
        tenant: TenantOption = None,
        questions: Annotated[Path | None, typer.Option(help="Ground truth (questions.jsonl of the tenant's corpus); "
                             "default: the `longhaul demo` sample's, DATA_DIR/samples/TENANT-200000-0.")] = None,
        out: Annotated[Path | None, typer.Option(help="Results file.")] = None,
        json_out: Annotated[bool, typer.Option("--json", help="JSON object on the last line.")] = False,
    ) -> None:
        """Score the records path on every question it takes. A multi-part question's later parts take their
        "same ..." keys from the ground-truth answer of its first part (the model is not run)."""
        from app.core.settings import get_settings
        from app.core.tenants import index_root
        from app.services.answers.about import answer_about
        from app.services.answers.compare import Computed
        from app.services.answers.computed import answer_from_records, carried_over, fact_table
        from app.services.answers.policy import ASKS_VERSION, answer_policy
        from eval.pipeline.run import is_correct
        from packing.plan import plan
        from retrieval.index import live_dir, load_chunks, load_vocabulary
        from retrieval.policies import policy_versions

        tenant = tenant_or_default(tenant)
        questions = demo_questions(tenant, questions)
        vdir = live_dir(index_root(get_settings(), tenant))
        chunks, vocab = load_chunks(vdir), load_vocabulary(vdir)
        t0 = time.perf_counter()
        table = fact_table(chunks, vocab)
        versions = policy_versions(chunks, vocab)
        build_s = time.perf_counter() - t0

        def records_lookup(question: str) -> Computed | None:
            """A lookup the records settle (the policy version in force, or about one order), as the pipeline
            tries it before the model."""
            found = answer_policy(question, vocab, table, versions, chunks) if ASKS_VERSION.search(question) else None
            return found or answer_about(question, vocab, table)

        rows: list[dict[str, Any]] = []
        for line in questions.read_text().splitlines():
            if not line.strip():
                continue
            q = json.loads(line)
            parts = plan(q["question"])
            first = records_lookup(parts[0].text)
            if first is not None and (len(parts) == 1 or first.verified):  # the records answer the first part too:
                carried = carried_over(parts[0].text, first.text, vocab, table)  # the whole question is theirs
                got_all = [first] + [answer_from_records(p, vocab, table, carried) for p in parts[1:]]
                if all(g is not None for g in got_all):
                    text = "\n".join(g.text for g in got_all if g is not None)
                    rows.append({"id": q["id"], "type": q["type"], "part": "all",
                                 "right": is_correct(text, q["accept"], q.get("match", "all")),
                                 "verified": all(g is not None and g.verified for g in got_all),
                                 "filter": "; ".join(g.filter for g in got_all if g is not None),
                                 "answer": text[:300]})
                    continue
            carried = carried_over(parts[0].text, q["answer"], vocab, table) if len(parts) > 1 else {}
            for i, part in enumerate(parts):
                got = answer_from_records(part, vocab, table, carried if i > 0 else {})
                if got is None:
                    continue
                # a later part is scored on the ids it must list, not on the first part's cause
                accept = [a for a in q["accept"] if i == 0 or any(ch.isdigit() for ch in a)]
                ok = is_correct(got.text, accept, q.get("match", "all"))
                rows.append({"id": q["id"], "type": q["type"], "part": i + 1, "right": ok, "verified": got.verified,
                             "filter": got.filter, "answer": got.text[:300]})
        by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            by_type[r["type"]].append(r)
        n = len(rows)
        result = {
            "eval": "records", "tenant": tenant, "index_version": vdir.name, "n_questions_taken": n,
            "accuracy": round(sum(r["right"] for r in rows) / n, 4) if n else None,
            "verified_rate": round(sum(r["verified"] for r in rows) / n, 4) if n else None,
            "false_verified_rate": round(sum(r["verified"] and not r["right"] for r in rows) / n, 4) if n else None,
            "by_type": {t: {"n": len(v), "right": sum(r["right"] for r in v), "verified": sum(r["verified"] for r in v)}
                        for t, v in sorted(by_type.items())},
            "table_build_s": round(build_s, 3), "events": len(table.events),
            "command": f"longhaul eval records --tenant {tenant} --questions {questions}",
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "rows": rows,
        }
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result, indent=1) + "\n")
        for r in rows:
            mark = ("right" if r["right"] else "WRONG") + (", verified" if r["verified"] else "")
            typer.echo(f"{r['id']} part {r['part']} ({mark}): {r['answer'][:160]}", err=True)
        if json_out:
            typer.echo(json.dumps({k: v for k, v in result.items() if k != "rows"}))
        else:
            typer.echo(f"{n} taken, accuracy {result['accuracy']}, false-verified {result['false_verified_rate']}")

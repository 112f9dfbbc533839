"""World b: ground truth verbatim and complete against its own records (read back from the files, all three scan
feed styles), determinism, every question type, none of world a's vocabulary, and its size and speed."""

from __future__ import annotations

import ast
import csv
import hashlib
import json
import re
import time
from pathlib import Path

import pytest

import corpus.world_b
from corpus import CANONICAL_QUESTIONS, WORLDS, CorpusConfig, generate_corpus
from corpus.planted import PLANTERS as WORLD_A_TYPES

MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                                      "Dec"), start=1)}
PIPE = re.compile(r"^(\d{4})-(\d{2})-\d{2} \d{2}:\d{2}\|([^|]+)\|([A-Z]{3})\|([^|]+)\|([^|]+)\|ref (\S+)$")
PROSE = re.compile(r"^([A-Z][a-z]{2}) \d{1,2} (\d{4}) \d{2}:\d{2} @(\S+) parcel (\S+) (.+) \(([^)]+)\) \[ref (\S+)\]$")
WORLD_A_WORDS = ("LEJ1", "MAD2", "DUB1", "RNO1", "MEM1", "YYZ1", "SIN1", "NRT1", "SKX", "MRP", "TAX", "KST", "BLR",
                 "PCC", "Leipzig", "Madrid", "Dublin", "Reno", "Memphis", "Toronto", "Singapore", "Tokyo", "Narita",
                 "Skyline", "Meridian", "TransAtlas", "Kestrel", "BlueRoute", "Pacifica")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world_b")
    generate_corpus(out, CorpusConfig(tokens=150_000, seed=5, world="b"))
    return out


def _search(pattern: str, text: str) -> re.Match[str]:
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in {text!r}"
    return found


def _questions(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "questions.jsonl").read_text(encoding="utf-8").splitlines()]


def _files(out: Path) -> dict[str, list[str]]:
    docs = out / "docs"
    return {p.relative_to(docs).as_posix(): p.read_text(encoding="utf-8").splitlines()
            for p in sorted(docs.rglob("*")) if p.is_file()}


def _table(lines: list[str]) -> list[dict[str, str]]:
    return list(csv.DictReader(lines))


def _reference(out: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(carrier name -> code, site city -> code), read from the reference folder as a tenant's user would."""
    files = _files(out)
    carriers = {r["name"]: r["code"] for r in _table(files["reference/carriers.csv"])}
    sites = {r["city"]: r["code"] for r in _table(files["reference/sites.csv"])}
    return carriers, sites


def _scans(out: Path) -> list[dict[str, str]]:
    """Every scan in every feed, whatever its style: year, month, loc, carrier (code), tracking, event, code, ref."""
    carriers, _ = _reference(out)
    events = []
    for rel, lines in _files(out).items():
        if not rel.startswith("carrier_feeds/"):
            continue
        for line in lines:
            if m := PIPE.match(line):
                y, mo, loc, carrier, trk, what, ref = m.groups()
                code = what.split("/", 1)[1] if what.startswith("EXC/") else ""
            elif m := PROSE.match(line):
                mon, y, loc, trk, verb, name, ref = m.groups()
                mo, carrier = str(MONTHS[mon]), carriers[name]
                code = verb.split("code ", 1)[1] if verb.startswith("held, code ") else ""
            else:
                kv = dict(part.split("=", 1) for part in line.split(" "))
                y, mo, carrier, trk, loc, ref = (kv["ts"][:4], kv["ts"][5:7], kv["carrier"], kv["trk"], kv["loc"],
                                                 kv["ref"])
                code = kv.get("code", "")
            events.append({"year": y, "month": str(int(mo)), "loc": loc, "carrier": carrier, "tracking": trk,
                           "code": code, "ref": ref})
    return events


def _orders(out: Path) -> list[dict[str, str]]:
    return [row for rel, lines in _files(out).items() if rel.startswith("orders/") for row in _table(lines)]


def _rmas(out: Path) -> dict[str, dict]:
    return {rec["id"]: rec for rel, lines in _files(out).items() if rel.startswith("returns/")
            for rec in map(json.loads, lines)}


def test_every_evidence_string_is_within_one_line_of_one_file(world: Path) -> None:
    files = _files(world)
    qs = _questions(world)
    assert qs
    for q in qs:
        assert q["evidence"], q["id"]
        for ev in q["evidence"]:
            assert "\n" not in ev
            assert any(ev in line for lines in files.values() for line in lines), f"{q['id']}: {ev!r}"


def test_every_question_type_the_canonical_question_and_the_schema(world: Path) -> None:
    qs = _questions(world)
    assert set(WORLD_A_TYPES) == {q["type"] for q in qs}
    assert CANONICAL_QUESTIONS["b"] in {q["question"] for q in qs}
    assert len({q["id"] for q in qs}) == len(qs)
    for q in qs:
        assert set(q) == {"id", "type", "question", "answer", "accept", "match", "evidence", "depth", "month"}
        assert 0.0 <= q["depth"] <= 1.0 and q["match"] == "all" and q["accept"]
        for s in q["accept"]:  # the reference answer passes its own accept rule
            assert s.lower() in q["answer"].lower(), (q["id"], s)


def test_files_are_what_ingest_accepts(world: Path) -> None:
    for rel, lines in _files(world).items():
        assert rel.rsplit(".", 1)[1] in ("jsonl", "csv", "md", "txt", "log"), rel
        if rel.endswith(".csv"):
            width = len(next(csv.reader([lines[0]])))
            assert all(len(row) == width for row in csv.reader(lines[1:])), rel
        if rel.endswith(".jsonl"):
            for line in lines:
                assert set(json.loads(line)) == {"id", "type", "timestamp", "text", "metadata"}, rel


def test_every_scan_line_parses_in_one_of_the_three_feed_styles(world: Path) -> None:
    scans = _scans(world)
    styles = {rel.split("/")[1].split("_")[0] for rel in _files(world) if rel.startswith("carrier_feeds/")}
    assert len(styles) == 5 and len(scans) > 200


def test_aggregation_answers_are_every_matching_record(world: Path) -> None:
    scans = _scans(world)
    carriers, _ = _reference(world)
    qs = [q for q in _questions(world) if q["type"] == "aggregation"]
    assert qs
    for q in qs:
        code_of, code, month = _search(r"\((\w{3})\) shipments hit (\S+) .* in (\w+ \d{4}):", q["answer"]).groups()
        name = next(n for n in carriers if n in q["question"])
        assert carriers[name] == code_of
        mon, year = month.split()
        truth = {s["ref"] for s in scans if s["carrier"] == code_of and s["code"] == code and s["year"] == year
                 and s["month"] == str(MONTHS[mon[:3]])}
        assert truth == set(q["accept"]), q["id"]


def test_canonical_recurrences_are_every_matching_return(world: Path) -> None:
    scans, rmas = _scans(world), _rmas(world)
    price = {row["item"]: float(row["unit_price_eur"]) for row in _orders(world)}
    held = {s["ref"] for s in scans if s["code"] == "HOLD-SEC" and s["carrier"] == "ATP" and s["year"] == "2023"}
    truth = {rmas[r]["metadata"]["order_ref"] for r in held
             if rmas[r]["metadata"]["item"].startswith("EL-") and price[rmas[r]["metadata"]["item"]] >= 1000}
    q = next(q for q in _questions(world) if q["question"] == CANONICAL_QUESTIONS["b"])
    assert len(truth) >= 2 and truth == {a for a in q["accept"] if a.isdigit()}


def test_lookup_keys_are_unique_in_the_whole_history(world: Path) -> None:
    orders = _orders(world)
    carriers, sites = _reference(world)
    for q in _questions(world):
        if q["type"] == "multi_key":
            city = next(c for c in sites if f"our {c} site" in q["question"])
            name = next(n for n in carriers if n in q["question"])
            day = _search(r"placed on (\d+ \w+ \d{4})", q["question"]).group(1)
            iso = time.strftime("%Y-%m-%d", time.strptime(day, "%d %B %Y"))
            refs = {r["order_ref"] for r in orders if r["site"] == sites[city] and r["ship_via"] == carriers[name]
                    and r["placed_at"].startswith(iso)}
            assert refs == set(q["accept"]), q["id"]
        if q["type"] == "single_needle":
            item = _search(r"the (\S+)\. Which", q["question"]).group(1)
            assert {r["order_ref"] for r in orders if r["item"] == item} == set(q["accept"]), q["id"]


def test_none_of_world_a_vocabulary(world: Path) -> None:
    text = "\n".join("\n".join(lines) for lines in _files(world).values())
    text += "\n" + (world / "questions.jsonl").read_text(encoding="utf-8")
    assert not any("#" in line.lstrip("#") for line in text.splitlines())  # Markdown headings only: no #12345
    assert "SKU-" not in text and not re.search(r"\bEX-\d{2}\b", text) and not re.search(r"\bPOL-[A-Z]+", text)
    for word in WORLD_A_WORDS:
        assert not re.search(rf"\b{word}\b", text), word


def test_world_b_imports_nothing_of_world_a() -> None:
    banned = ("ingest", "corpus.world", "corpus.planted", "corpus.orders", "corpus.notes", "corpus.policies",
              "corpus.writer")
    for path in Path(corpus.world_b.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not any(name == b or name.startswith(b + ".") for b in banned), f"{path}: {name}"


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def test_same_seed_is_byte_identical_another_differs(tmp_path: Path) -> None:
    cfg = CorpusConfig(tokens=40_000, seed=3, world="b")
    generate_corpus(tmp_path / "x", cfg)
    generate_corpus(tmp_path / "y", cfg)
    generate_corpus(tmp_path / "z", CorpusConfig(tokens=40_000, seed=4, world="b"))
    assert _digest(tmp_path / "x") == _digest(tmp_path / "y") != _digest(tmp_path / "z")


def test_depth_puts_the_planted_facts_in_one_month(tmp_path: Path) -> None:
    generate_corpus(tmp_path / "d", CorpusConfig(tokens=40_000, seed=1, world="b", depth=0.5))
    months = {q["month"] for q in _questions(tmp_path / "d") if q["id"] != "b-canonical"}
    assert len(months) <= 2  # policy questions follow their receipt day, a few days either side


def test_200k_tokens_in_a_few_seconds_near_the_target(tmp_path: Path) -> None:
    start = time.perf_counter()
    stats = generate_corpus(tmp_path / "big", CorpusConfig(tokens=200_000, seed=2, world="b"))
    assert time.perf_counter() - start < 20
    assert stats["world"] == "b" and abs(int(str(stats["tokens_measured"])) - 200_000) < 20_000


def test_unknown_world_lists_the_choices() -> None:
    with pytest.raises(ValueError, match=r"\['a', 'b'\]"):
        CorpusConfig(world="c")
    assert sorted(WORLDS) == ["a", "b"]


@pytest.mark.parametrize("options", [{"depth": 0.0}, {"depth": 1.0}, {"questions_per_type": 8, "depth": 0.4},
                                     {"questions_per_type": 12}])
def test_ground_truth_holds_at_every_depth_and_size_of_plan(tmp_path: Path, options: dict) -> None:
    generate_corpus(tmp_path, CorpusConfig(tokens=40_000, seed=8, world="b", **options))
    test_every_evidence_string_is_within_one_line_of_one_file(tmp_path)
    test_every_question_type_the_canonical_question_and_the_schema(tmp_path)
    test_aggregation_answers_are_every_matching_record(tmp_path)
    test_canonical_recurrences_are_every_matching_return(tmp_path)
    test_lookup_keys_are_unique_in_the_whole_history(tmp_path)

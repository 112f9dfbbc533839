"""DESIGN.md's dependency direction, checked on every import statement of the product (top level and inside
functions alike), and the house rules that keep files small and the model file single-device."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "corpus", "ingest", "retrieval", "packing", "engine", "planner", "eval")

# What each package may import of the others: a package name allows all of it, a dotted name only that module.
ALLOWED: dict[str, tuple[str, ...]] = {
    "app": ("corpus", "ingest", "retrieval", "packing", "engine", "planner", "eval"),
    "corpus": (),
    "ingest": (),
    # the records ingest writes beside each index version: chunks, the tenant's vocabulary, the links across files
    "retrieval": ("ingest.records", "ingest.vocab_model", "ingest.links"),
    "packing": ("engine.tokenizer",),
    "engine": (),
    "planner": ("engine.kv.formats", "engine.config"),  # the torch-free tables: KV formats and model shapes
    "eval": ("corpus", "ingest", "retrieval", "packing", "engine", "planner"),
}
# Known departures, each with the issue that removes it (none today: the generator's constants moved to corpus/).
KNOWN: dict[tuple[str, str], str] = {}
# app/ runs the generator only in the commands that write a sample for a user (demo, generate); benchmarks, evals and
# training get their generated data through eval/ (eval/corpora.py), never in serving code
APP_CORPUS_USERS = ("app/commands/demo.py", "app/commands/generate.py")


def _imports(path: Path) -> list[tuple[int, str, tuple[str, ...]]]:
    """(line, module, the names it takes) of every absolute import; ``from engine import tokenizer`` takes
    ``engine.tokenizer``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, (a.name,)) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module, tuple(f"{node.module}.{a.name}" for a in node.names)))
    return out


def _allowed(importer: str, module: str) -> bool:
    target = module.split(".")[0]
    if target == importer or target not in PACKAGES:
        return True
    rules = ALLOWED[importer]
    return any(module == r or module.startswith(r + ".") for r in rules) or any(
        module == k or module.startswith(k + ".") for (src, k) in KNOWN if src == importer)


def _product_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def test_dependencies_point_the_way_design_says() -> None:
    bad = []
    for path in _product_files():
        importer = path.relative_to(ROOT).parts[0]
        for line, module, names in _imports(path):
            if not (_allowed(importer, module) or all(_allowed(importer, n) for n in names)):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not bad, "imports against DESIGN.md's dependency direction:\n" + "\n".join(bad)


def test_known_departures_are_still_real() -> None:
    """An exception that no file needs any more must be deleted from KNOWN, so the rule tightens as issues land."""
    used = {(p.relative_to(ROOT).parts[0], m) for p in _product_files() for _, m, _ in _imports(p)}
    stale = [k for k in KNOWN if not any(src == k[0] and (m == k[1] or m.startswith(k[1] + ".")) for src, m in used)]
    assert not stale, f"remove these from KNOWN, nothing imports them any more: {stale}"


def test_the_model_file_is_single_device() -> None:
    mods = [m for _, m, _ in _imports(ROOT / "engine" / "model.py")]
    assert not [m for m in mods if m.startswith("torch.distributed")], "engine/model.py must not use torch.distributed"


@pytest.mark.parametrize("package", PACKAGES)
def test_files_stay_short(package: str) -> None:
    long = [f"{p.relative_to(ROOT)} ({n} lines)" for p in (ROOT / package).rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 320]
    assert not long, f"split these by job (house rule: under ~300 lines): {long}"


def test_serving_code_never_runs_the_generator() -> None:
    bad = [f"{p.relative_to(ROOT)}:{line}" for p in sorted((ROOT / "app").rglob("*.py"))
           if not str(p.relative_to(ROOT)).startswith(APP_CORPUS_USERS)
           for line, module, _ in _imports(p) if module.split(".")[0] == "corpus"]
    assert not bad, f"only {APP_CORPUS_USERS} may import corpus/: {bad}"


def _string_literals(path: Path) -> list[tuple[int, str]]:
    """Every string constant of a file except docstrings (examples in prose are fine, values in code are not)."""
    tree = ast.parse(path.read_text(), str(path))
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs]


def test_no_product_package_knows_the_generators_names() -> None:
    """The generator's facility, carrier and exception codes and names appear in no string of a product package."""
    from corpus.domain import CARRIERS, EXCEPTION_CODES, FULFILLMENT_CENTERS

    names = {fc.code for fc in FULFILLMENT_CENTERS} | {c.code for c in CARRIERS} | {c.name for c in CARRIERS}
    names |= {e.code for e in EXCEPTION_CODES} | {e.name for e in EXCEPTION_CODES}
    word = re.compile(r"\b(" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) + r")\b")
    bad = []
    for pkg in ("ingest", "retrieval", "packing", "engine", "app"):
        for p in sorted((ROOT / pkg).rglob("*.py")):
            if pkg == "app" and str(p.relative_to(ROOT)).startswith(APP_CORPUS_USERS):
                continue
            bad += [f"{p.relative_to(ROOT)}:{line} {m.group(0)!r}" for line, s in _string_literals(p)
                    for m in word.finditer(s)]
    assert not bad, "the generator's names in product code:\n" + "\n".join(bad)

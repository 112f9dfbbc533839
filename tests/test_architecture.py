"""DESIGN.md's dependency direction, checked on every import statement of the product (top level and inside
functions alike), and the house rules that keep files small and the model file single-device."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "corpus", "ingest", "retrieval", "packing", "engine", "planner", "eval")

# What each package may import of the others: a package name allows all of it, a dotted name only that module.
ALLOWED: dict[str, tuple[str, ...]] = {
    "app": ("corpus", "ingest", "retrieval", "packing", "engine", "planner", "eval"),
    "corpus": (),
    "ingest": (),
    "retrieval": ("ingest.records",),
    "packing": ("engine.tokenizer",),
    "engine": (),
    "planner": ("engine.kv.formats", "engine.config"),  # the torch-free tables: KV formats and model shapes
    "eval": ("corpus", "ingest", "retrieval", "packing", "engine", "planner"),
}
# Known departures, each with the issue that removes it. The generator's constants still live in ingest/domain.py and
# are read by later stages; the tenant-vocabulary issue (#18) replaces them with a vocabulary learned at ingest.
KNOWN: dict[tuple[str, str], str] = {
    ("corpus", "ingest.domain"): "issue 18: the generator's constants move to corpus/ when ingest learns vocabularies",
    ("retrieval", "ingest.domain"): "issue 18: query analysis reads the tenant's vocabulary instead",
}


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

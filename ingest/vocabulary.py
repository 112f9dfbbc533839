"""Learn a tenant's vocabulary from its files, most trusted source first.

1. the profile ``vocabulary.yaml`` (`ingest.vocab_profile`);
2. reference tables that map a code to a name (CSV or Markdown, found by shape, whatever the folder);
3. structured fields: CSV columns and JSONL ``metadata`` keys whose names say the kind; their values are terms,
   and generalised by shape they give the kind's value patterns (a bare number only after the contexts it was
   seen in: ``#``, ``ref ``, its column's words);
4. code-like tokens that recur across files (``EX-41``, ``HOLD-SEC``), kind ``code`` with counts, and policy
   names with a version (``POL-REFUND v3``, ``Returns Handbook, revision 2``: `ingest.vocab_policies`).

Nothing here knows any tenant's names: ``learn_vocabulary(root)`` on another tenant's folder learns that tenant's.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ingest.loaders import discover
from ingest.vocab_model import CODE_TOKEN_RE, KINDS, Mention, Pattern, Term, Vocabulary
from ingest.vocab_names import learn_names
from ingest.vocab_policies import PolicySightings
from ingest.vocab_profile import PROFILE_NAME, read_profile
from ingest.vocab_shapes import anchored, generalise, too_broad
from ingest.vocab_tables import (
    ID_KINDS,
    FieldValues,
    Table,
    add_reference,
    csv_table,
    jsonl_fields,
    markdown_tables,
    table_fields,
)

__all__ = ["KINDS", "Mention", "Pattern", "Term", "Vocabulary", "learn_vocabulary"]

RECURRING_CODE_RE = re.compile(r"(?<![\w#\-])(?:[A-Z][A-Z0-9]*(?:[-_][A-Z0-9]+)+|[A-Z]+[0-9][A-Z0-9]*)(?![\w\-])")
ANCHOR_RE = re.compile(r"(?:(?<![A-Za-z])([A-Za-z]{2,12})[ ]?[:#=]?[ ]?|(#))$")
MIN_FILES = 2  # a code-like token is a code when it recurs in this many files
MIN_ANCHOR = 3  # a context anchors a bare pattern when it precedes this many known values


@dataclass
class _Text:
    """What the free-text pass gathers from every file."""

    code_files: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    code_first: dict[str, str] = field(default_factory=dict)
    pairs: Counter[tuple[str, str]] = field(default_factory=Counter)  # code directly followed by code
    code_count: Counter[str] = field(default_factory=Counter)
    policies: PolicySightings = field(default_factory=PolicySightings)
    anchors: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, context) -> count


def _read_lines(path: Path) -> list[str]:
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\x00" in data[:8192]:
        return []
    return data.decode("utf-8", errors="replace").splitlines()


def _scan_text(rel: str, lines: list[str], bare: dict[str, str], out: _Text) -> None:
    for i, line in enumerate(lines, start=1):
        prev: re.Match[str] | None = None
        for m in RECURRING_CODE_RE.finditer(line):
            tok = m.group(0)
            if prev is not None and line[prev.end() : m.start()] == " ":
                out.pairs[(prev.group(0), tok)] += 1
            prev = m
            out.code_files[tok].add(rel)
            out.code_count[tok] += 1
            out.code_first.setdefault(tok, f"{rel}:{i}")
        out.policies.scan(line, f"{rel}:{i}")
        if not bare:
            continue
        for m in CODE_TOKEN_RE.finditer(line):
            tok = m.group(0)
            kind = bare.get(tok.lstrip("#"))
            if kind is None:
                continue
            ctx = "#" if tok.startswith("#") else None
            if ctx is None:
                a = ANCHOR_RE.search(line, max(0, m.start() - 16), m.start())
                ctx = (a.group(1) or a.group(2) or "").lower() if a else None
            if ctx:
                out.anchors[(kind, ctx)] += 1


def _add_field_terms(fields: FieldValues, vocab: Vocabulary) -> None:
    for kind in KINDS:
        for value, source in fields.first_seen.get(kind, {}).items():
            vocab.add_term(Term(kind, value, (), source))


def _id_patterns(fields: FieldValues, vocab: Vocabulary) -> dict[str, list[str]]:
    """Add the non-bare value patterns of the id kinds; return the bare ones by kind (they need anchors)."""
    bare: dict[str, list[str]] = defaultdict(list)
    for kind in sorted(ID_KINDS):
        values = fields.first_seen.get(kind, {})
        if not values:
            continue
        src = next(iter(values.values())).split(":", 1)[0]
        where = f"{src} ({', '.join(sorted(fields.headers[kind]))}): {len(values)} values"
        for regex, is_bare in generalise(values):
            if is_bare:
                bare[kind].append(regex)
            elif too_broad(regex) is None:
                vocab.add_pattern(Pattern(kind, rf"(?<![\w#\-]){regex}(?![\w\-])", where))
    return bare


def _anchor_patterns(bare: dict[str, list[str]], fields: FieldValues, text: _Text, vocab: Vocabulary) -> None:
    for kind, regexes in bare.items():
        learned = [ctx for (k, ctx), n in text.anchors.items() if k == kind and n >= MIN_ANCHOR]
        total = sum(n for (k, _), n in text.anchors.items() if k == kind)
        learned = [c for c in learned if text.anchors[(kind, c)] * 10 >= total]
        contexts = set(learned) | {w for w in fields.headers[kind] if len(w) >= 2}
        for regex in regexes:
            rx = anchored(regex, contexts)
            where = f"structured {kind} values, anchored to {sorted(contexts)}"
            if rx is None:
                vocab.problems.append(f"{kind}: values shaped {regex!r} seen in no context: known values only")
            elif too_broad(rx) is None:
                vocab.add_pattern(Pattern(kind, rx, where))


def _code_names(text: _Text) -> dict[str, str]:
    """``CUSTOMS_HOLD`` -> ``EX-41`` where a word-like code (no digit) nearly always directly follows one code."""
    named: dict[str, str] = {}
    for (a, b), n in text.pairs.items():
        if n >= MIN_ANCHOR and not any(ch.isdigit() for ch in b) and n * 10 >= 9 * text.code_count[b]:
            if any(ch.isdigit() for ch in a):
                named[b] = a
    return named


def _add_recurring(text: _Text, vocab: Vocabulary) -> None:
    id_rx = [re.compile(p.regex) for p in vocab.patterns if p.kind in ID_KINDS]
    codes: list[str] = []
    policy_names = text.policies.code_names
    named = _code_names(text)
    for tok, files in text.code_files.items():
        count = text.code_count[tok]
        if tok in named and named[tok] in text.code_files:
            continue  # the name of another code: its synonym
        if tok in vocab.terms:
            vocab.code_counts[tok] = count
            continue
        if len(files) < MIN_FILES or tok in policy_names or any(rx.fullmatch(tok) for rx in id_rx):
            continue
        words = [b for b, a in named.items() if a == tok]
        synonyms = tuple(dict.fromkeys(n for b in words for n in (b, b.replace("_", " ").lower())))
        vocab.add_term(Term("code", tok, synonyms, f"{text.code_first[tok]} (in {len(files)} files)"))
        vocab.code_counts[tok] = count
        codes.append(tok)
    for regex, is_bare in generalise(codes, min_support=3, min_share=0.05):
        if not is_bare and re.match(r"[A-Z]", regex) and too_broad(regex) is None:
            vocab.add_pattern(Pattern("code", rf"(?<![\w\-]){regex}(?![\w\-])", f"{len(codes)} recurring codes"))
    text.policies.add_to(vocab)


def learn_vocabulary(root: Path, files: Iterable[Path] | None = None, profile: Path | None = None) -> Vocabulary:
    """The vocabulary of the tenant whose files are under ``root`` (all ingestible files, or ``files``).

    ``profile``: a ``vocabulary.yaml`` kept outside the folder (``longhaul vocabulary set``), read first: it is
    trusted more than the folder's own profile.

    Never raises for bad content: what could not be used is in ``Vocabulary.problems`` as ``file:line: message``.
    """
    root = Path(root).resolve()  # discover() returns paths under root: a relative root would be joined twice
    paths = sorted(Path(f) for f in files) if files is not None else discover(root)[0]
    vocab = Vocabulary()
    if profile is not None:
        read_profile(profile.parent, vocab, profile.name)
    read_profile(root, vocab)
    loaded: list[tuple[str, str, list[str]]] = []
    tables: list[Table] = []
    fields = FieldValues()
    for path in paths:
        rel = path.relative_to(root).as_posix() if path.is_absolute() else path.as_posix()
        if path.name == PROFILE_NAME:
            continue
        lines = _read_lines(path if path.is_absolute() else root / path)
        suffix = path.suffix.lower()
        loaded.append((rel, suffix, lines))
        if suffix == ".csv":
            table = csv_table(rel, lines)
            tables += [table] if table else []
        elif suffix == ".md":
            tables += markdown_tables(rel, lines)
        elif suffix == ".jsonl":
            jsonl_fields(rel, lines, fields)
    for table in tables:
        table_fields(table, fields)
    seen: dict[str, Term] = {}
    by_value = fields.kinds_by_value()
    for table in tables:
        add_reference(table, vocab, by_value, seen)
    _add_field_terms(fields, vocab)
    bare_regexes = _id_patterns(fields, vocab)
    bare_values = {v: k for k in bare_regexes for v in fields.first_seen.get(k, {})}
    text = _Text()
    for rel, _suffix, lines in loaded:
        _scan_text(rel, lines, bare_values, text)
    _anchor_patterns(bare_regexes, fields, text, vocab)
    _add_recurring(text, vocab)
    learn_names(loaded, vocab)
    return vocab

"""A tenant's vocabulary: entity kinds, their terms (a canonical value with synonyms) and value patterns.

Learned at ingest (`ingest.vocabulary.learn_vocabulary`), stored beside each index version, read by every later
stage. Matching is one pass per text: a token lookup for exact codes, one case-insensitive alternation per kind for
names, one compiled alternation per kind for patterns; overlapping candidates are resolved longest first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

KINDS = ("order", "sku", "tracking", "rma", "facility", "carrier", "code", "policy", "person")
# the chunk metadata list each kind's canonical values go to (what filters and query analysis name)
KIND_KEYS = {
    "order": "order_ids",
    "sku": "skus",
    "carrier": "carriers",
    "facility": "fcs",
    "code": "exception_codes",
    "policy": "policies",
    "tracking": "tracking_numbers",
    "rma": "rma_ids",
    "person": "people",
}
CODE_TOKEN_RE = re.compile(r"#?[A-Za-z0-9](?:[A-Za-z0-9_./\-]*[A-Za-z0-9])?")
_NAME_LIKE = re.compile(r"[\sa-z]")  # a canonical with a space or a lowercase letter is matched as a name
_POLICY_VERSION_RE = re.compile(r"(?P<name>\S.*?),?[ _](?:v|version |rev\.? ?|revision |edition )(?P<n>\d+)", re.I)


def policy_version(canonical: str) -> tuple[str, int] | None:
    """``("POL-REFUND", 3)`` for ``POL-REFUND v3``, ``("Returns Handbook", 2)`` for ``Returns Handbook revision 2``;
    None for a policy named without a version."""
    m = _POLICY_VERSION_RE.fullmatch(canonical)
    return (m.group("name"), int(m.group("n"))) if m else None


@dataclass(frozen=True)
class Term:
    """One thing of a kind: ``canonical`` (a code, matched exactly) and ``synonyms`` (names, any case)."""

    kind: str
    canonical: str
    synonyms: tuple[str, ...] = ()
    source: str = ""  # "file:line" or "file:column" where it was learned


@dataclass(frozen=True)
class Pattern:
    """A value pattern of a kind; a named group ``v`` (when present) is the value, the rest is context."""

    kind: str
    regex: str
    source: str = ""


@dataclass(frozen=True)
class Mention:
    kind: str
    canonical: str
    surface: str
    start: int
    end: int


def _is_name(value: str) -> bool:
    return bool(_NAME_LIKE.search(value)) or CODE_TOKEN_RE.fullmatch(value) is None


def _alternation(words: list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=lambda w: (-len(w), w)))


@dataclass
class Vocabulary:
    """Terms and patterns by kind, what went wrong while learning them, and recurring-code counts.

    Add sources in order of trust: `add_term` keeps the first kind a canonical value was given (the more trusted
    source) and merges synonyms of the same kind.
    """

    terms: dict[str, Term] = field(default_factory=dict)  # canonical -> term
    patterns: list[Pattern] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    code_counts: dict[str, int] = field(default_factory=dict)
    _compiled: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    # ---- building -------------------------------------------------------------------------------------------
    def add_term(self, term: Term) -> Term | None:
        """Add or merge ``term``; returns the existing term when it holds the value under another kind."""
        if term.kind not in KINDS:
            raise ValueError(f"unknown kind {term.kind!r}: use one of {', '.join(KINDS)}")
        old = self.terms.get(term.canonical)
        if old is not None and old.kind != term.kind:
            return old
        self._compiled = None
        if old is None:
            self.terms[term.canonical] = term
        else:
            extra = tuple(s for s in term.synonyms if s.lower() not in {o.lower() for o in old.synonyms})
            if extra:
                self.terms[term.canonical] = Term(old.kind, old.canonical, old.synonyms + extra, old.source)
        return None

    def add_pattern(self, pattern: Pattern) -> None:
        if pattern.kind not in KINDS:
            raise ValueError(f"unknown kind {pattern.kind!r}: use one of {', '.join(KINDS)}")
        if all(p.regex != pattern.regex or p.kind != pattern.kind for p in self.patterns):
            self.patterns.append(pattern)
            self._compiled = None

    def kind_of(self, canonical: str) -> str | None:
        term = self.terms.get(canonical)
        return term.kind if term else None

    # ---- matching ---------------------------------------------------------------------------------------------
    def _compile(self) -> dict[str, Any]:
        if self._compiled is None:
            codes: dict[str, Term] = {}
            names: dict[str, dict[str, Term]] = {k: {} for k in KINDS}
            for t in self.terms.values():
                if _is_name(t.canonical):
                    names[t.kind].setdefault(t.canonical.lower(), t)
                else:
                    codes[t.canonical] = t
                for s in t.synonyms:
                    names[t.kind].setdefault(s.lower(), t)
            name_res = {
                k: re.compile(rf"(?<!\w)(?:{_alternation(list(v))})(?!\w)", re.IGNORECASE)
                for k, v in names.items()
                if v
            }
            by_kind: dict[str, list[str]] = {}
            for p in self.patterns:
                by_kind.setdefault(p.kind, []).append(p.regex)
            pat_res = {k: [re.compile(r) for r in rs] for k, rs in by_kind.items()}
            self._compiled = {"codes": codes, "names": names, "name_res": name_res, "pat_res": pat_res}
        return self._compiled

    def pattern(self, kind: str) -> re.Pattern[str] | None:
        """One regex for the kind's value patterns (each alternative in its own group), or None."""
        regexes = [re.sub(r"\(\?P<v>", "(?:", p.regex) for p in self.patterns if p.kind == kind]
        return re.compile("|".join(f"(?:{r})" for r in regexes)) if regexes else None

    def mentions(self, text: str) -> list[Mention]:
        """Every term and pattern match in ``text``, non-overlapping, in text order (longest wins an overlap;
        at equal length a known term beats a pattern)."""
        c = self._compile()
        found: list[tuple[int, int, int, str, str]] = []  # start, end, priority, kind, canonical
        codes: dict[str, Term] = c["codes"]
        for m in CODE_TOKEN_RE.finditer(text):
            t = codes.get(m.group(0))
            if t is None and m.group(0).startswith("#"):
                t = codes.get(m.group(0)[1:])
                if t is not None:
                    found.append((m.start() + 1, m.end(), 0, t.kind, t.canonical))
                    continue
            if t is None and m.group(0).isdigit():  # a bare number for an id the tenant writes as #N
                t = codes.get("#" + m.group(0))
            if t is not None:
                found.append((m.start(), m.end(), 0, t.kind, t.canonical))
            elif "/" in m.group(0):  # a compound of codes ("EXC/HOLD-SEC", "DEPARTED/LATE"): each known part
                at = m.start()
                for part in m.group(0).split("/"):
                    pt = codes.get(part)
                    if pt is not None:
                        found.append((at, at + len(part), 0, pt.kind, pt.canonical))
                    at += len(part) + 1
        for kind, rx in c["name_res"].items():
            for m in rx.finditer(text):
                t = c["names"][kind][m.group(0).lower()]
                found.append((m.start(), m.end(), 1, kind, t.canonical))
        for kind, rxs in c["pat_res"].items():
            for rx in rxs:
                for m in rx.finditer(text):
                    s, e = (m.start("v"), m.end("v")) if "v" in rx.groupindex else m.span()
                    if e > s:
                        value = text[s:e]
                        t = codes.get(value)
                        found.append((s, e, 2, kind, t.canonical if t and t.kind == kind else value))
        found.sort(key=lambda f: (f[0], -(f[1] - f[0]), f[2]))
        out: list[Mention] = []
        end = -1
        for s, e, _, kind, canonical in found:
            if s >= end:
                out.append(Mention(kind, canonical, text[s:e], s, e))
                end = e
        return out

    def resolve(self, surface: str) -> Term | None:
        """The term a code (exact), a name or synonym (any case) or a pattern-shaped value stands for."""
        s = surface.strip()
        c = self._compile()
        t = c["codes"].get(s) or c["codes"].get(s.lstrip("#"))
        if t is not None:
            return t
        for kind in KINDS:
            t = c["names"][kind].get(s.lower())
            if t is not None:
                return t
        for p in self.patterns:
            m = re.fullmatch(p.regex, s)
            if m:
                value = m.group("v") if "v" in m.re.groupindex else s
                return self.terms.get(value) or Term(p.kind, value, (), p.source)
        return None

    # ---- showing and storing ------------------------------------------------------------------------------------
    def describe(self, max_terms_per_kind: int | None = 50) -> list[dict[str, str]]:
        """Rows for ``vocabulary show``: kind, value, synonyms, source (patterns as ``/regex/``)."""
        rows: list[dict[str, str]] = []
        for kind in KINDS:
            for p in (p for p in self.patterns if p.kind == kind):
                rows.append({"kind": kind, "value": f"/{p.regex}/", "synonyms": "", "source": p.source})
            terms = [t for t in self.terms.values() if t.kind == kind]
            shown = terms if max_terms_per_kind is None else terms[:max_terms_per_kind]
            for t in shown:
                count = self.code_counts.get(t.canonical)
                source = t.source + (f" (seen {count}x)" if count else "")
                rows.append({"kind": kind, "value": t.canonical, "synonyms": ", ".join(t.synonyms), "source": source})
            if len(shown) < len(terms):
                more = f"... {len(terms) - len(shown)} more"
                rows.append({"kind": kind, "value": more, "synonyms": "", "source": ""})
        return rows

    def to_json(self) -> dict[str, Any]:
        return {
            "terms": [[t.kind, t.canonical, list(t.synonyms), t.source] for t in self.terms.values()],
            "patterns": [[p.kind, p.regex, p.source] for p in self.patterns],
            "problems": list(self.problems),
            "code_counts": dict(self.code_counts),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Vocabulary:
        vocab = cls(problems=list(data.get("problems", [])), code_counts=dict(data.get("code_counts", {})))
        for kind, canonical, synonyms, source in data.get("terms", []):
            vocab.terms[canonical] = Term(kind, canonical, tuple(synonyms), source)
        vocab.patterns = [Pattern(kind, regex, source) for kind, regex, source in data.get("patterns", [])]
        return vocab

"""Policy names with versions, as the tenant writes them.

Two shapes, whatever the names: a code and a version (``POL-REFUND v3``, ``RET_POLICY version 2``), or a title-case
name and a version word (``Returns Handbook, revision 2``, ``Carrier Terms edition 4``, ``revision 2 of the Returns
Handbook``). Each version seen becomes a ``policy`` term (canonical ``NAME vN`` for a code, ``Name word N`` for a
title, the other surfaces its synonyms); each name becomes a ``policy`` term too, since a question names the policy
("which revision of the Returns Handbook applied") far more often than its version; and the names give one value
pattern for versions the files never show. `ingest.vocab_model.policy_version` splits a canonical back into name and
version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest.vocab_model import Pattern, Term, Vocabulary

CODE_POLICY_RE = re.compile(r"(?<![\w\-])([A-Z][A-Z0-9]*(?:[-_][A-Z0-9]+)*)[ _](?:v|version |rev\.? ?)(\d+)\b")
_TITLE = r"[A-Z][a-z]+(?: [A-Z][a-z]+){1,5}"  # two to six title-case words
_WORD = r"(?i:version|revision|edition|rev\.?)"
TITLE_POLICY_RE = re.compile(rf"(?<![\w\-])({_TITLE}),? ({_WORD}) ?(\d+)\b")
REVERSED_POLICY_RE = re.compile(rf"\b({_WORD}) (\d+) of (?i:the |our |its )?({_TITLE})\b")
# sentence words that may precede a name in title case ("The Returns Handbook, revision 2 ...")
LEADING_WORDS = frozenset({"The", "Our", "Its", "Their", "This", "That", "Under", "Per", "See", "In", "Of", "A", "An"})
MIN_TITLE_SIGHTINGS = 2  # a title-case name with a version word counts as a policy when seen on this many lines


def _title_name(raw: str) -> str | None:
    words = raw.split()
    while words and words[0] in LEADING_WORDS:
        words.pop(0)
    return " ".join(words) if len(words) >= 2 else None


@dataclass
class PolicySightings:
    """Versioned policy names seen in the files: ``(name, version)`` -> first source, surfaces, count."""

    code: dict[tuple[str, int], str] = field(default_factory=dict)  # (name, n) -> first "file:line"
    title: dict[tuple[str, int], str] = field(default_factory=dict)
    words: dict[tuple[str, int], str] = field(default_factory=dict)  # (name, n) -> first version word seen
    title_lines: dict[str, int] = field(default_factory=dict)  # title name -> lines it was seen on

    def scan(self, line: str, where: str) -> None:
        for m in CODE_POLICY_RE.finditer(line):
            self.code.setdefault((m.group(1), int(m.group(2))), where)
        names: set[str] = set()
        for raw, word, n in TITLE_POLICY_RE.findall(line):
            name = _title_name(raw)
            if name:
                self._title(name, word, int(n), where)
                names.add(name)
        for word, n, raw in REVERSED_POLICY_RE.findall(line):
            name = _title_name(raw)
            if name:
                self._title(name, word, int(n), where)
                names.add(name)
        for name in names:
            self.title_lines[name] = self.title_lines.get(name, 0) + 1

    def _title(self, name: str, word: str, n: int, where: str) -> None:
        self.title.setdefault((name, n), where)
        self.words.setdefault((name, n), word.lower())

    @property
    def code_names(self) -> set[str]:
        return {name for name, _ in self.code}

    def add_to(self, vocab: Vocabulary) -> None:
        """Add the versions, the names and one pattern per shape to ``vocab`` (terms of another kind win)."""
        for (name, n), source in self.code.items():
            _add(vocab, Term("policy", f"{name} v{n}", (), source))
        titles = {k: v for k, v in self.title.items() if self.title_lines.get(k[0], 0) >= MIN_TITLE_SIGHTINGS}
        for (name, n), source in titles.items():
            word = self.words[(name, n)]
            forms = (f"{name} {word} {n}", f"{name}, {word} {n}", f"{word} {n} of the {name}", f"{word} {n} of {name}")
            _add(vocab, Term("policy", forms[0], forms[1:], source))
        first: dict[str, str] = {}
        for (name, _), source in [*self.code.items(), *titles.items()]:
            first.setdefault(name, source)
        for name, source in first.items():
            _add(vocab, Term("policy", name, (), source))
        code_names = sorted(self.code_names, key=len, reverse=True)
        if code_names:
            alts = "|".join(re.escape(n) for n in code_names)
            vocab.add_pattern(Pattern("policy", rf"(?<![\w\-])(?:{alts})[ _]v\d+\b", f"{len(code_names)} policy names"))
        title_names = sorted({name for name, _ in titles}, key=len, reverse=True)
        if title_names:
            alts = "|".join(re.escape(n) for n in title_names)
            vocab.add_pattern(
                Pattern("policy", rf"(?<![\w\-])(?:{alts}),? {_WORD} ?\d+\b", f"{len(title_names)} policy names")
            )


def _add(vocab: Vocabulary, term: Term) -> None:
    if vocab.kind_of(term.canonical) in (None, "policy"):
        vocab.add_term(term)

"""Which version of a policy was in force when.

A version's own document is a file whose every chunk opens (its title or heading line) with that one versioned
policy name, as the tenant's vocabulary knows it (``# POL-REFUND v4 — effective 2020-11-01``, ``# Returns Handbook,
revision 2``); the version takes effect at the earliest date its document carries. The versions in force over a
span of days are the one in force on its first day and every one that takes effect within it. Nothing here knows a
tenant's policy names: they come from the vocabulary and the chunks' ``policies`` metadata.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ingest.links import MAX_FANOUT, MAX_IDS, Links
from ingest.records import Chunk
from ingest.vocab_model import Vocabulary, policy_version

POLICY_WORDS = re.compile(r"\b(polic(y|ies)|in effect|in force)\b", re.IGNORECASE)


class PolicyRecord(Protocol):
    """What the policy versions are read from: an indexed record (`ingest.records.Chunk` is one)."""

    @property
    def id(self) -> str: ...

    @property
    def doc_id(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def metadata(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class PolicyVersion:
    name: str
    version: int
    canonical: str
    effective: str  # ISO date
    rows: tuple[int, ...]  # the chunks of its own document, in row order


def _first_line_versions(chunk: PolicyRecord, vocab: Vocabulary) -> set[str]:
    line = chunk.text.split("\n", 1)[0]
    return {m.canonical for m in vocab.mentions(line) if m.kind == "policy" and policy_version(m.canonical)}


def policy_versions(chunks: Sequence[PolicyRecord], vocab: Vocabulary) -> dict[str, list[PolicyVersion]]:
    """Policy name -> its versions with a document and a date, oldest first."""
    docs = {c.doc_id for c in chunks if any(policy_version(p) for p in c.metadata.get("policies") or ())}
    rows_of: dict[str, list[int]] = defaultdict(list)
    for row, c in enumerate(chunks):
        if c.doc_id in docs:
            rows_of[c.doc_id].append(row)
    found: dict[str, tuple[list[int], list[str]]] = {}
    for rows in rows_of.values():
        common = set.intersection(*(_first_line_versions(chunks[r], vocab) for r in rows))
        if len(common) != 1:
            continue  # a note or log that cites policies, not a policy's own document
        canonical = common.pop()
        stamps = [str(chunks[r].metadata.get("timestamp"))[:10] for r in rows if chunks[r].metadata.get("timestamp")]
        held = found.setdefault(canonical, ([], []))
        held[0].extend(rows)
        held[1].extend(stamps)
    out: dict[str, list[PolicyVersion]] = defaultdict(list)
    for canonical, (rows, stamps) in found.items():
        split = policy_version(canonical)
        if split and stamps:
            out[split[0]].append(PolicyVersion(split[0], split[1], canonical, min(stamps), tuple(sorted(rows))))
    return {name: sorted(vs, key=lambda v: (v.effective, v.version)) for name, vs in out.items()}


def in_force(versions: Iterable[PolicyVersion], first: str, last: str) -> list[PolicyVersion]:
    """The versions in force at some day of ``first``..``last`` (ISO dates, inclusive): the newest that took effect
    on or before ``first``, and every one that takes effect after it, up to ``last``."""
    ordered = sorted(versions, key=lambda v: (v.effective, v.version))
    before = [v for v in ordered if v.effective <= first[:10]]
    during = [v for v in ordered if first[:10] < v.effective <= last[:10]]
    return before[-1:] + during


@dataclass(frozen=True)
class PolicySelection:
    rows: set[int]  # the policy chunks the question needs
    asks: bool  # it asks about a policy: the other policy chunks rank after everything else
    stale: set[int]  # chunks of versions in force at none of its days: they rank after everything else


class PolicyIndex:
    """The policy versions of one index version and what a question needs of them (`select`)."""

    def __init__(self, chunks: Sequence[Chunk], vocab: Vocabulary, links: Links) -> None:
        self.chunks, self.links = chunks, links
        self.versions = policy_versions(chunks, vocab)
        self.rows = {r for vs in self.versions.values() for v in vs for r in v.rows}
        self.row_of = {c.id: row for row, c in enumerate(chunks)}
        self.code_chunks = Counter(x for c in chunks for x in c.metadata.get("exception_codes") or ())

    def records(self, ids: set[tuple[str, str]]) -> list[int]:
        """Rows of the records that name any of ``ids`` ((link kind, value)): no digest of many ids, no policy."""
        rows = set()
        for kind, value in ids:
            holders = self.links.about(kind, value)
            if len(holders) > MAX_FANOUT:
                continue
            for cid in holders:
                if sum(map(len, self.links.names.get(cid, {}).values())) <= MAX_IDS:
                    rows.add(self.row_of[cid])
        return sorted(rows - self.rows)

    def select(
        self, text: str, named: Sequence[str], spans: Sequence[tuple[str, str]], records: Sequence[int]
    ) -> PolicySelection:
        """The policy chunks a question needs, whether it asks about a policy, and the versions it cannot mean.

        The question's days are its ``spans``, else the span of its ``records`` (the records its ids link to). A
        question that names a policy or says policy / in effect / in force gets every version of the named
        policies (of all, when it names none) in force at those days, and any version it names. Any other question
        about ids gets, of the versions in force then, the clauses about the rarest exception code its records
        carry (why a refund waited: the hold the return scan shows, and the rule on that hold). Versions in force
        at none of the question's days (when it has days) are ``stale``."""
        asks = bool(named) or POLICY_WORDS.search(text) is not None
        if not self.versions:
            return PolicySelection(set(), asks, set())
        if not spans:
            stamps = [str(self.chunks[r].metadata.get("timestamp"))[:10] for r in records]
            stamps = [s for s in stamps if s[:1].isdigit()]
            spans = [(min(stamps), max(stamps))] if stamps else []
        live = {v.canonical for vs in self.versions.values() for lo, hi in spans for v in in_force(vs, lo, hi)}
        stale = {r for vs in self.versions.values() for v in vs if v.canonical not in live for r in v.rows}
        if not spans:
            stale = set()
        exact = {p for p in named if policy_version(p)}
        names = {(policy_version(p) or (p, 0))[0] for p in named} & set(self.versions)
        chosen = [v for vs in self.versions.values() for v in vs if v.canonical in exact]
        chosen += [v for name in (names or self.versions) for v in self.versions[name] if v.canonical in live]
        rows = {r for v in chosen for r in v.rows}
        stale -= rows
        if asks or not records:
            return PolicySelection(rows if asks else set(), asks, stale)
        said = {x for r in rows for x in self.chunks[r].metadata.get("exception_codes") or ()}
        carried = {x for r in records for x in self.chunks[r].metadata.get("exception_codes") or ()} & said
        if not carried:
            return PolicySelection(set(), False, stale)
        rarest = min(carried, key=lambda x: (self.code_chunks[x], x))
        clauses = {r for r in rows if rarest in (self.chunks[r].metadata.get("exception_codes") or ())}
        return PolicySelection(clauses, False, stale)

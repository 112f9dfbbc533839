"""The tenant's own profile, ``vocabulary.yaml`` in the ingested folder: the most trusted vocabulary source.

Format (top-level keys are kinds; every part optional)::

    carrier:
      patterns: ['ATP\\d{9}']        # value patterns; a named group (?P<v>...) marks the value inside context
      terms:
        ATP: [Atlas Post, atlas]     # canonical code: synonyms (a list, one string, or nothing)
    facility:
      terms:
        DE-LEJ: Leipzig

Whatever does not parse or is too broad is reported as ``file:line: message`` and skipped; the rest is used.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ingest.vocab_model import KINDS, Pattern, Term, Vocabulary
from ingest.vocab_shapes import too_broad

PROFILE_NAME = "vocabulary.yaml"


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _scalars(node: yaml.Node) -> list[yaml.ScalarNode] | None:
    if isinstance(node, yaml.ScalarNode):
        return [] if node.value in ("", "~", "null") else [node]
    if isinstance(node, yaml.SequenceNode) and all(isinstance(n, yaml.ScalarNode) for n in node.value):
        return list(node.value)
    return None


def _read_kind(kind: str, node: yaml.Node, rel: str, vocab: Vocabulary) -> None:
    if not isinstance(node, yaml.MappingNode):
        vocab.problems.append(f"{rel}:{_line(node)}: kind {kind!r} must map to 'patterns' and/or 'terms': skipped")
        return
    for key, value in node.value:
        if key.value == "patterns":
            items = _scalars(value)
            if items is None:
                vocab.problems.append(f"{rel}:{_line(value)}: 'patterns' must be a list of strings: skipped")
                continue
            for item in items:
                why = too_broad(item.value)
                if why:
                    vocab.problems.append(f"{rel}:{_line(item)}: {why}: skipped")
                else:
                    vocab.add_pattern(Pattern(kind, item.value, f"{rel}:{_line(item)}"))
        elif key.value == "terms" and isinstance(value, yaml.MappingNode):
            for code, syn in value.value:
                synonyms = _scalars(syn)
                if not isinstance(code, yaml.ScalarNode) or not code.value or synonyms is None:
                    vocab.problems.append(f"{rel}:{_line(code)}: a term is 'CODE: [synonym, ...]': skipped")
                    continue
                other = vocab.add_term(Term(kind, code.value, tuple(s.value for s in synonyms), f"{rel}:{_line(code)}"))
                if other is not None:
                    vocab.problems.append(
                        f"{rel}:{_line(code)}: {code.value!r} is already a {other.kind} ({other.source}): skipped"
                    )
        else:
            vocab.problems.append(f"{rel}:{_line(key)}: unknown entry {key.value!r} (use 'patterns' or 'terms')")


def read_profile(root: Path, vocab: Vocabulary, name: str = PROFILE_NAME) -> bool:
    """Add ``root/name`` (``vocabulary.yaml``) to ``vocab``; False when there is none or it does not parse."""
    path = root / name
    if not path.is_file():
        return False
    rel = path.relative_to(root).as_posix()
    try:
        doc = yaml.compose(path.read_text(encoding="utf-8", errors="replace"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 0
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        vocab.problems.append(f"{rel}:{line}: profile does not parse ({problem}): profile skipped")
        return False
    if doc is None:
        return True
    if not isinstance(doc, yaml.MappingNode):
        vocab.problems.append(f"{rel}:{_line(doc)}: the profile must map kinds ({', '.join(KINDS)}): skipped")
        return False
    for key, node in doc.value:
        if not isinstance(key, yaml.ScalarNode) or key.value not in KINDS:
            vocab.problems.append(f"{rel}:{_line(key)}: unknown kind {key.value!r}; kinds: {', '.join(KINDS)}")
            continue
        _read_kind(key.value, node, rel, vocab)
    return True

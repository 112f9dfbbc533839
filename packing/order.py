"""Placement orders and near-duplicate removal.

An order takes the evidence that fits, best first, and returns it in prompt order. Orders are plain functions in
``ORDERS``, chosen by name through ``get_order``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from packing.claims import extract_claims


class _Timed(Protocol):
    @property
    def timestamp(self) -> str | None: ...


T = TypeVar("T")
TT = TypeVar("TT", bound=_Timed)


def order_retrieval(items: list[T]) -> list[T]:
    """Best first, as the retriever ranked them."""
    return list(items)


def order_reorder(items: list[T]) -> list[T]:
    """LangChain's ``LongContextReorder`` (``_litm_reordering``), re-implemented: reverse, then alternately prepend
    and append. The best item lands first or last depending on the parity of the count."""
    out: list[T] = []
    for i, item in enumerate(reversed(items)):
        if i % 2 == 1:
            out.append(item)
        else:
            out.insert(0, item)
    return out


def order_ours(items: list[T]) -> list[T]:
    """Rank 1 first, rank 2 last, rank 3 second, rank 4 second to last, ...; the weakest in the middle."""
    return items[0::2] + items[1::2][::-1]


def order_ours_chronological(items: list[TT], tier_size: int = 4) -> list[TT]:
    """``order_ours`` by tiers of ``tier_size`` ranks, each tier read forward in time.

    Tier 1 (the best ``tier_size``) holds the two ends of the prompt, tier 2 the next places inward, and so on.
    Within a tier the items are sorted by timestamp (undated ones last, by rank); the earlier half sits on the
    front side and the later half on the back side, so each tier reads chronologically from front to back.
    """
    if tier_size < 2:
        raise ValueError(f"tier_size must be at least 2, got {tier_size}")
    front: list[TT] = []
    back: list[list[TT]] = []
    for start in range(0, len(items), tier_size):
        tier = sorted(
            enumerate(items[start : start + tier_size]),
            key=lambda t: (t[1].timestamp is None, t[1].timestamp or "", t[0]),
        )
        tier_items = [it for _, it in tier]
        half = (len(tier_items) + 1) // 2
        front.extend(tier_items[:half])
        back.append(tier_items[half:])
    return front + [it for tier in reversed(back) for it in tier]


ORDERS: dict[str, Callable[[list[T]], list[T]]] = {
    "retrieval": order_retrieval,
    "reorder": order_reorder,
    "ours": order_ours,
}


def get_order(name: str) -> Callable[[list[T]], list[T]]:
    """The order function called ``name``."""
    try:
        return ORDERS[name]
    except KeyError:
        raise ValueError(f"unknown order {name!r}; choose one of {sorted(ORDERS)}") from None


_SPACE = re.compile(r"\s+")


def shingles(text: str, n: int = 5) -> frozenset[str]:
    """Character ``n``-grams of the lower-cased, whitespace-collapsed text."""
    t = _SPACE.sub(" ", text.lower()).strip()
    if len(t) <= n:
        return frozenset([t]) if t else frozenset()
    return frozenset(t[i : i + n] for i in range(len(t) - n + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def near_duplicates(texts: Sequence[str], threshold: float = 0.9) -> dict[int, int]:
    """For texts best first: ``{index: index of the better text it nearly duplicates}``.

    Near duplicates have character 5-gram Jaccard >= ``threshold`` *and* the same checkable facts (order ids,
    dates, amounts, codes, SKUs), so templated records that differ only in an id or a date are both kept.
    """
    if threshold > 1:
        return {}
    facts = [frozenset((c.kind, c.value) for c in extract_claims(t)) for t in texts]
    sh = [shingles(t) for t in texts]
    kept: dict[frozenset[tuple[str, str]], list[int]] = {}
    dup: dict[int, int] = {}
    for i, s in enumerate(sh):
        for k in kept.get(facts[i], []):
            small, big = sorted((len(s), len(sh[k])))
            if big and small / big < threshold:  # Jaccard <= |small| / |big|
                continue
            if jaccard(s, sh[k]) >= threshold:
                dup[i] = k
                break
        else:
            kept.setdefault(facts[i], []).append(i)
    return dup

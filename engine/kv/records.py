"""Record-aware KV compression: keep or drop the prompt's evidence records whole, never a record's digits alone.

Token-level policies (SnapKV, ChunkKV) keep the few tokens of a record the window attends to and drop the ids and
numbers around them, which the answer must copy. The caller knows where each record starts and ends (longhaul's
packer renders ``[E#]`` records) and hands those spans over (engine/kv/segments.py); these policies score each
record by the attention mass it receives and keep the best records whole up to the budget, always with the
question, the instructions, the glue between records and the most recent ``window`` tokens.

Variants (one selector, `engine.kv.names`):
- ``records``: question-aware (the observation window holds the question when applied at the prompt's end); one
  choice of records per layer, shared by its KV heads (scores summed over the heads).
- ``records-head``: the same scores per KV head, with AdaKV's adaptive per-head budget (Feng et al.,
  arXiv:2407.11550): the layer's record budget goes to the best (head, record) pairs, each head guaranteed
  ``alpha_safeguard`` of its share; heads are padded to the longest with their next-best records.
- ``records-agnostic``: no question needed, for a history compressed once before any question: a record's score
  is the attention its tokens received from every later prompt query, each token's sum divided by the number of
  queries that could see it (H2O-style accumulation; not KVzip's reconstruction pass, which needs a second
  prefill).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.kv.formats import ADAKV_ALPHA_SAFEGUARD, POLICY_WINDOW
from engine.kv.policy import Policy, ScoreInputs, observation_attention
from engine.kv.segments import Segment, check_segments

# Which layers choose the records (a fraction of the depth, from the top): on 8 held-out tuning lookups (corpus seeds
# 9500+, 2K, 4x; not the eval's items) each layer's own choice kept the gold record in 3% of the (item, layer) pairs
# below layer 15 of SmolLM2's 30 (attention there follows position more than content) and ~40% above it.
RECORDS_FROM_LAYER = 0.5


@dataclass
class RecordKV(Policy):
    """Keeps whole ``record`` segments by the window's attention mass, shared by the layer's KV heads.

    Needs the prompt's segments (``KVSpec(policy, segments=...)``); compresses once, at the prompt's end
    (``when="end"``, question-aware) or before the first prompt chunk after the context (``when="chunks"``).
    ``from_layer``: a fraction ``f``: one choice for every layer by the attention of the layers from
    ``f * n_layers`` up (lower layers attend by position more than by content); None: each layer chooses its
    records by its own attention.
    """

    window: int = POLICY_WINDOW
    from_layer: float | None = RECORDS_FROM_LAYER

    needs_segments = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.when == "always":
            raise ValueError(f"{self.name} compresses once (when='end' or 'chunks'), not at every step")
        if self.from_layer is not None and not 0.0 <= self.from_layer < 1.0:
            raise ValueError(f"from_layer is a fraction of the layers in [0, 1) or None, got {self.from_layer}")

    @property
    def name(self) -> str:
        return "records"

    def score(self, inputs: ScoreInputs) -> torch.Tensor:
        """Attention mass (B, Hkv, n) each token receives from the window queries, averaged over them and over the
        KV head's query group (SnapKV's votes, without pooling: records are summed whole instead)."""
        return observation_attention(inputs).mean(dim=(2, 3))

    # -- the checks before any work --------------------------------------------------------------------------------
    def check_prompt(self, prompt_len: int, n_layers: int, segments: tuple[Segment, ...]) -> None:
        """Raise before any work when the segments are bad or the budget cannot hold what is always kept."""
        segs = check_segments(segments, prompt_len)
        if not any(not s.kept for s in segs):
            raise ValueError(f"{self.name} needs the prompt's record segments (kind 'record'), got none: pass the "
                             "packer's spans, e.g. KVSpec(policy, segments=...), or use a token-level policy")
        for layer in range(n_layers):
            k = self.layer_budget(prompt_len, layer, n_layers)
            if k >= prompt_len:
                continue
            fixed = int(_fixed_mask(segs, prompt_len, self.recent(k)).sum())
            if fixed > k:
                raise ValueError(f"{self.name}: the budget of {k} tokens (layer {layer}) is smaller than the question, "
                                 f"instructions and recent window ({fixed} tokens), which are always kept: lower the "
                                 "ratio or shorten the question")

    # -- selection -------------------------------------------------------------------------------------------------
    @property
    def plans_layers(self) -> bool:
        return self.from_layer is not None

    def keep_indices(self, inputs: ScoreInputs, n_seen: int) -> torch.Tensor | None:
        """Indices (B, Hkv, k') of the tokens kept, ascending: the fixed tokens and whole records; None = all.
        This layer's own choice (``from_layer=None``; the cache asks `keep_indices_layers` otherwise)."""
        prepared = self._prepare(inputs, n_seen)
        if prepared is None:
            return None
        per_record, sizes, rid, fixed, room = prepared
        return self.choose(per_record, sizes, rid, fixed, room)

    def keep_indices_layers(self, inputs: list[ScoreInputs], n_seen: int) -> list[torch.Tensor | None]:
        """One choice of records for all these layers: each layer's record masses (B, Hkv, R), normalised to sum
        to 1 per KV head, summed over the layers at or above ``from_layer * n_layers`` (all given ones if none
        is); every layer keeps the same tokens."""
        maybe = [self._prepare(i, n_seen) for i in inputs]
        prepared = [p for p in maybe if p is not None]
        if len(prepared) < len(maybe):  # the budget keeps every token (the layers share one budget)
            return [None if p is None else self.choose(*p) for p in maybe]
        lo = (self.from_layer or 0.0) * inputs[0].n_layers
        voters = [p for i, p in zip(inputs, prepared, strict=True) if i.layer >= lo] or prepared
        mass = torch.stack([p[0] / p[0].sum(-1, keepdim=True).clamp_min(1e-30) for p in voters]).sum(0)
        _, sizes, rid, fixed, room = voters[0]
        idx = self.choose(mass, sizes, rid, fixed, room)
        return [idx] * len(inputs)

    def _prepare(self, inputs: ScoreInputs, n_seen: int
                 ) -> tuple[torch.Tensor, list[int], torch.Tensor, torch.Tensor, int] | None:
        """The layer's record masses (B, Hkv, R), each record's size in tokens not kept anyway, each token's record
        (n,) or -1, the always-kept mask (n,) and the room left for records; None when the budget keeps all."""
        n = inputs.keys.shape[2]
        k = self.layer_budget(n_seen, inputs.layer, inputs.n_layers)
        if k >= n:
            return None
        if inputs.segments is None:
            raise ValueError(f"{self.name} scores records: it needs the prompt's segments, and compresses once (the "
                             "stored tokens must still be the prompt's positions)")
        segs = [Segment(s.start, min(s.end, n), s.kind) for s in inputs.segments if s.start < n]
        fixed = _fixed_mask(segs, n, self.recent(k)).to(inputs.keys.device)
        room = k - int(fixed.sum())
        if room < 0:
            raise ValueError(f"{self.name}: the budget of {k} tokens is smaller than the always-kept part "
                             f"({int(fixed.sum())} tokens)")
        records = [s for s in segs if not s.kept]
        rid = torch.full((n,), -1, dtype=torch.long, device=fixed.device)
        for i, s in enumerate(records):
            rid[s.start:s.end] = i
        rid[fixed] = -1  # a record's tokens inside the recent window are kept anyway
        sizes = torch.bincount(rid[rid >= 0], minlength=len(records)).tolist()  # tokens each record would add
        return record_mass(self.score(inputs).float(), rid, len(records)), sizes, rid, fixed, room

    def choose(self, per_record: torch.Tensor, sizes: list[int], rid: torch.Tensor, fixed: torch.Tensor,
               room: int) -> torch.Tensor:
        """One set of records for every KV head: the best by mass summed over the heads, greedily, each kept if it
        still fits ``room`` tokens (a record too long for what is left is passed over for a smaller one)."""
        B, H, _ = per_record.shape
        ranks = []
        for b in range(B):
            chosen = greedy(per_record[b].sum(0).tolist(), sizes, room)
            ranks.append(ranking(chosen, per_record[b].sum(0).tolist()))
        used = max(sum(sizes[r] for r in rank[:n_chosen]) for rank, n_chosen in ranks)
        prio = torch.stack([token_priority([rank] * H, rid, fixed) for rank, _ in ranks])  # (B, Hkv, n)
        return prio.topk(int(fixed.sum()) + used, dim=-1).indices.sort(dim=-1).values


@dataclass
class RecordKVPerHead(RecordKV):
    """`RecordKV` with AdaKV's adaptive per-head budget: the layer's ``Hkv * room`` record tokens go to the best
    (head, record) pairs by each head's own attention mass, each head first getting its best records up to
    ``alpha_safeguard * room``; every head then holds as many tokens as the fullest (padded with its next-best
    records), since the cache stores heads at one length."""

    alpha_safeguard: float = ADAKV_ALPHA_SAFEGUARD
    may_exceed_budget = True

    @property
    def name(self) -> str:
        return "records-head"

    def choose(self, per_record: torch.Tensor, sizes: list[int], rid: torch.Tensor, fixed: torch.Tensor,
               room: int) -> torch.Tensor:
        B, H, R = per_record.shape
        prios, longest = [], 0
        for b in range(B):
            mass = per_record[b].tolist()  # [head][record]
            chosen = [greedy(mass[h], sizes, int(self.alpha_safeguard * room)) for h in range(H)]
            used = [sum(sizes[r] for r in c) for c in chosen]
            pool = H * room - sum(used)
            for flat in sorted(range(H * R), key=lambda i: -mass[i // R][i % R]):
                h, r = divmod(flat, R)
                if r not in chosen[h] and 0 < sizes[r] <= pool:
                    chosen[h].append(r)
                    used[h] += sizes[r]
                    pool -= sizes[r]
            longest = max(longest, *used)
            prios.append(token_priority([ranking(c, mass[h])[0] for h, c in enumerate(chosen)], rid, fixed))
        prio = torch.stack(prios)  # (B, Hkv, n)
        return prio.topk(int(fixed.sum()) + longest, dim=-1).indices.sort(dim=-1).values


@dataclass
class RecordKVAgnostic(RecordKV):
    """`RecordKV` scored without the question: each token's attention from every prompt query so far (the cache
    accumulates it), divided by the number of queries that could attend to it; for a history compressed once
    (``when="chunks"``: before the question) and answered many times."""

    needs_attn_sum = True

    @property
    def name(self) -> str:
        return "records-agnostic"

    def score(self, inputs: ScoreInputs) -> torch.Tensor:
        """Mean attention (B, Hkv, n) a token received per query that saw it (queries at positions >= its own)."""
        acc = inputs.attn_sum
        if acc is None:
            raise ValueError(f"{self.name} needs the cache's accumulated attention (needs_attn_sum)")
        n = acc.shape[-1]
        seen_by = torch.arange(n, 0, -1, device=acc.device, dtype=torch.float32)  # token p: queries p..n-1
        return acc.float() / seen_by


def _fixed_mask(segments: list[Segment], n: int, recent: int) -> torch.Tensor:
    """(n,) bool: the tokens always kept: every token outside a record segment, and the last ``recent``."""
    fixed = torch.ones(n, dtype=torch.bool)
    for s in segments:
        if not s.kept:
            fixed[s.start:s.end] = False
    if recent:
        fixed[n - recent:] = True
    return fixed


def record_mass(scores: torch.Tensor, rid: torch.Tensor, n_records: int) -> torch.Tensor:
    """Per-record sums (B, Hkv, R) of token ``scores`` (B, Hkv, n); ``rid`` (n,) is each token's record or -1."""
    B, H, _ = scores.shape
    inside = rid >= 0
    out = torch.zeros(B, H, n_records, dtype=scores.dtype, device=scores.device)
    return out.index_add_(-1, rid[inside], scores[..., inside])


def greedy(mass: list[float], sizes: list[int], room: int) -> list[int]:
    """Records by ``mass``, best first (earlier on ties), each taken while its ``sizes`` still fits ``room``."""
    chosen, left = [], room
    for r in sorted(range(len(mass)), key=lambda r: (-mass[r], r)):
        if 0 < sizes[r] <= left:
            chosen.append(r)
            left -= sizes[r]
    return chosen


def ranking(chosen: list[int], mass: list[float]) -> tuple[list[int], int]:
    """Every record in keep order: the ``chosen`` first (as chosen), then the rest by ``mass``; and how many were
    chosen."""
    taken = set(chosen)
    rest = sorted((r for r in range(len(mass)) if r not in taken), key=lambda r: (-mass[r], r))
    return chosen + rest, len(chosen)


def token_priority(ranks: list[list[int]], rid: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
    """(Hkv, n) priorities whose top-k is the fixed tokens, then whole records in each head's ``ranks`` order, a
    record's tokens in position order (so a top-k that ends inside a record keeps its start)."""
    n = rid.shape[0]
    pos = torch.arange(n, dtype=torch.float64, device=rid.device) / (n + 1)
    out = []
    for rank in ranks:
        value = torch.zeros(max(len(rank), 1), dtype=torch.float64, device=rid.device)
        value[rank] = torch.arange(len(rank), 0, -1, dtype=torch.float64, device=rid.device)
        prio = value[rid.clamp_min(0)] - pos
        out.append(prio.masked_fill(fixed, float("inf")))
    return torch.stack(out)

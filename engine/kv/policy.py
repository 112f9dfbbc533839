"""Compression policies: a policy scores the cached tokens; this base class turns scores into a per-KV-head top-k.

A policy is a small dataclass that scores (as in NVIDIA's kvpress), in two steps: `votes`, a per-token quantity that
adds up over disjoint parts of the sequence (so ranks holding parts of it can sum theirs, engine/parallel), and
`from_votes`, which turns the whole sequence's votes into scores (pooling, chunk sums, position). A policy may
instead override `score` alone; it then runs on one device only. The base handles the budget
(``ratio``: keep ``ceil(n / ratio)``; or ``budget``: keep that many tokens), always keeps the most recent
``window`` tokens, and picks the top-scoring rest independently for each KV head. ``when`` says at which points
of a request the cache applies the policy (see `WHEN`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from engine.kv.formats import POLICY_WINDOW
from engine.kv.segments import Segment

WHEN: dict[str, str] = {
    "end": "once, after the whole prompt is prefilled (question-aware: the question's queries can vote)",
    "chunks": "before each later prefill chunk (question-agnostic; peak memory drops); the last chunk is kept",
    "always": "before each later prefill chunk, after the prompt, and at every decode step (eviction)",
}


@dataclass
class ScoreInputs:
    """What a policy may look at when scoring one layer's cached tokens.

    ``keys``/``values``: (B, Hkv, n, D), rotary already applied, in position order (the last stored token is the
    most recent). ``queries``: (B, Hq, w, D), the last ``w`` queries seen by this layer (their keys are the last
    ``w`` stored tokens). ``attn_sum``: (B, Hkv, n) attention each token has received from every query so far,
    summed over the queries of each KV head's group (only when the policy sets ``needs_attn_sum``). ``shard``: set
    when the keys are one rank's part of a longer sequence (engine/parallel); None when they are all of it.
    ``segments``: the prompt's spans (engine/kv/segments.py) in stored-token indices, while the stored tokens are
    still the prompt's positions ``0..n-1`` (no earlier compression of the layer); None otherwise.
    """

    keys: torch.Tensor
    values: torch.Tensor
    queries: torch.Tensor
    layer: int
    n_layers: int
    attn_sum: torch.Tensor | None = None
    shard: Shard | None = None
    segments: tuple[Segment, ...] | None = None


@dataclass
class Shard:
    """Where the keys of a `ScoreInputs` lie in the whole sequence when they are one rank's part of it.

    ``positions``: (n,) their global positions, ascending. ``total``: the sequence's length (the window queries
    are its last ``w`` positions). ``window_lse``: (B, Hkv, group, w) each window query's log-sum-exp of its
    logits over every key of the sequence, so that attention over a part is normalised as over the whole (None
    until the parts' log-sum-exps are combined, engine/parallel/scores.py).
    """

    positions: torch.Tensor
    total: int
    window_lse: torch.Tensor | None = None


@dataclass
class Policy:
    """Base of the KV compression policies. Subclasses implement `votes` and `from_votes` (or `score` alone, which
    keeps them single-device) and may override `layer_budget`.

    Parameters
    ----------
    ratio : float, optional
        Compression ratio: 4.0 keeps ``ceil(n / 4)`` tokens per KV head and layer. Exactly one of ratio/budget.
    budget : int, optional
        Tokens kept per KV head and layer.
    window : int
        The most recent tokens, always kept; also the observation window of query-based scores.
    when : str
        When the cache applies the policy: one of `WHEN`'s keys.
    """

    ratio: float | None = None
    budget: int | None = None
    window: int = POLICY_WINDOW
    when: str = "end"

    needs_attn_sum = False  # set by policies that score with the attention accumulated over all queries
    may_exceed_budget = False  # set by policies that can keep more than layer_budget tokens (AdaKV's padding)
    needs_segments = False  # set by policies that score the prompt's segments (engine/kv/records.py)

    @property
    def plans_layers(self) -> bool:
        """Whether the cache asks `keep_indices_layers` once for every layer instead of `keep_indices` per layer."""
        return False

    def keep_indices_layers(self, inputs: list[ScoreInputs], n_seen: int) -> list[torch.Tensor | None]:
        """Indices to keep for several layers at once (a policy whose `plans_layers` is True); here per layer."""
        return [self.keep_indices(i, n_seen) for i in inputs]

    def __post_init__(self) -> None:
        if (self.ratio is None) == (self.budget is None):
            raise ValueError(f"{type(self).__name__}: set exactly one of ratio= (e.g. 4.0) or budget= (tokens)")
        if self.ratio is not None and self.ratio < 1.0:
            raise ValueError(f"ratio must be >= 1 (4.0 keeps a quarter of the tokens), got {self.ratio}")
        if self.budget is not None and self.budget < 1:
            raise ValueError(f"budget must be a positive number of tokens, got {self.budget}")
        if self.window < 0:
            raise ValueError(f"window must be >= 0, got {self.window}")
        if self.when not in WHEN:
            raise ValueError(f"unknown when={self.when!r}: choose one of {', '.join(WHEN)}")

    @property
    def name(self) -> str:
        return type(self).__name__.lower()

    def score(self, inputs: ScoreInputs) -> torch.Tensor:
        """Importance of every cached token, (B, Hkv, n); higher is kept first: ``from_votes(votes(inputs))``."""
        return self.from_votes(self.votes(inputs))

    def votes(self, inputs: ScoreInputs) -> torch.Tensor:
        """Each token's votes, (B, Hkv, n) fp32: what the tokens of a part of the sequence get from that part alone
        (with ``inputs.shard``, the part's keys at their global positions), so the parts' votes, placed at their
        positions and summed, are the whole sequence's votes."""
        raise NotImplementedError(f"{type(self).__name__} implements neither votes() nor score()")

    def from_votes(self, votes: torch.Tensor) -> torch.Tensor:
        """Scores (B, Hkv, n) from the whole sequence's ``votes`` (B, Hkv, n), in position order; here the votes."""
        return votes

    def splits_votes(self) -> bool:
        """Whether `score` is `from_votes` of `votes` (implemented, `score` not overridden): what lets ranks that
        hold parts of the sequence sum their votes and score the whole (engine/parallel/scores.py)."""
        cls = type(self)
        return cls.score is Policy.score and cls.votes is not Policy.votes

    def check_prompt(self, prompt_len: int, n_layers: int, segments: tuple[Segment, ...]) -> None:
        """Raise a ``ValueError`` before any work if this policy cannot compress a ``prompt_len``-token prompt
        with these (token) ``segments``; token-level policies ignore segments."""

    def target(self, n_seen: int) -> int:
        """Tokens to keep per KV head when ``n_seen`` tokens went through the cache (before per-layer shaping)."""
        if self.budget is not None:
            return self.budget
        assert self.ratio is not None
        return max(1, math.ceil(n_seen / self.ratio))

    def layer_budget(self, n_seen: int, layer: int, n_layers: int) -> int:
        """Tokens to keep in ``layer``; uniform here, PyramidKV shapes it over the layers."""
        return self.target(n_seen)

    def recent(self, k: int) -> int:
        """How many of the ``k`` kept tokens are reserved for the most recent ones."""
        return min(self.window, k)

    def keep_indices(self, inputs: ScoreInputs, n_seen: int) -> torch.Tensor | None:
        """Choose the tokens to keep: `score`, then `select`.

        Parameters
        ----------
        inputs : ScoreInputs
            The layer's keys (B, Hkv, n, D), values, last queries and accumulated attention.
        n_seen : int
            Tokens that went through the cache so far (the ratio applies to this count).

        Returns
        -------
        torch.Tensor or None
            Indices (B, Hkv, k) into the n stored tokens, ascending; None when the budget covers every token.
        """
        if self.layer_budget(n_seen, inputs.layer, inputs.n_layers) >= inputs.keys.shape[2]:
            return None
        scores = self.score(inputs)
        assert scores.shape == inputs.keys.shape[:3], "score() must return (B, Hkv, n)"
        return self.select(scores, n_seen, inputs.layer, inputs.n_layers)

    def select(self, scores: torch.Tensor, n_seen: int, layer: int, n_layers: int) -> torch.Tensor | None:
        """Indices (B, Hkv, k), ascending, of the tokens to keep given their ``scores`` (B, Hkv, n); None = all.

        Split from `keep_indices` so that scores computed elsewhere (e.g. gathered across ring ranks by
        `engine.parallel`) go through the same budget, recent-window and tie-breaking code.
        """
        protected = self.protect_recent(scores, n_seen, layer, n_layers)
        if protected is None:
            return None
        scores, k = protected
        idx = scores.topk(k, dim=-1).indices  # (B, Hkv, k)
        return idx.sort(dim=-1).values

    def protect_recent(self, scores: torch.Tensor, n_seen: int, layer: int,
                       n_layers: int) -> tuple[torch.Tensor, int] | None:
        """A float copy of ``scores`` (B, Hkv, n) with the recent window set to +inf, and the layer's budget k;
        None when k covers every token. The common start of every `select`."""
        n = scores.shape[2]
        k = self.layer_budget(n_seen, layer, n_layers)
        if k >= n:
            return None
        scores = scores.float().clone()  # never alias the inputs
        recent = self.recent(k)
        if recent:
            scores[..., n - recent:] = float("inf")
        return scores, k


def window_logits(inputs: ScoreInputs) -> torch.Tensor:
    """Causal logits of the observation-window queries over the cached keys, (B, Hkv, group, w, n) fp32.

    The window queries are the last ``w`` positions of the sequence (of ``n`` tokens, or ``inputs.shard.total``),
    so query ``i`` sees the keys at positions ``< total - w + i + 1``; later keys get -inf.
    """
    q, keys = inputs.queries, inputs.keys
    B, Hq, w, D = q.shape
    Hkv, n = keys.shape[1], keys.shape[2]
    group = Hq // Hkv
    qg = q.float().view(B, Hkv, group, w, D)
    logits = qg @ keys.float()[:, :, None].transpose(-2, -1) / math.sqrt(D)  # (B, Hkv, group, w, n)
    shard = inputs.shard
    total = n if shard is None else shard.total
    kpos = torch.arange(n, device=q.device) if shard is None else shard.positions.to(q.device)
    qpos = torch.arange(total - w, total, device=q.device)[:, None]
    future = kpos[None, :] > qpos  # (w, n)
    return logits.masked_fill(future, float("-inf"))


def observation_attention(inputs: ScoreInputs) -> torch.Tensor:
    """Softmax attention of the observation-window queries over the cached keys, (B, Hkv, group, w, n): over all
    of them, or, for a `Shard`, this part's share of the attention over the whole sequence."""
    logits = window_logits(inputs)
    if inputs.shard is None:
        return logits.softmax(dim=-1)
    lse = inputs.shard.window_lse
    assert lse is not None, "a shard's window attention needs the whole sequence's log-sum-exp"
    return torch.exp(logits - lse[..., None])  # masked keys get 0

"""KV bytes as engine/kv stores them: quantized codes plus scales plus a full-precision tail, and AdaKV's padding.

Arithmetic only (no torch): ``QUANT_LAYOUTS`` mirrors ``engine.kv.quant.FORMATS`` (tests/planner checks they agree) so
the planner stays importable without torch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QuantLayout:
    """The storage fields of ``engine.kv.quant.QuantFormat``: code ``bits``, the scale axis of keys and values
    ("token" or "channel"), the token ``group`` of a channel scale and the ``residual`` full-precision tokens."""

    bits: int
    key_axis: str
    value_axis: str
    group: int
    residual: int

    @property
    def flush(self) -> int:
        """Tokens are quantized in multiples of this many (a channel-scale group, or 1)."""
        return self.group if "channel" in (self.key_axis, self.value_axis) else 1


QUANT_LAYOUTS: dict[str, QuantLayout] = {
    "int8": QuantLayout(8, "token", "token", 1, 0),
    "int8-channel": QuantLayout(8, "channel", "token", 32, 32),
    "fp8": QuantLayout(8, "token", "token", 1, 0),
    "fp8-channel": QuantLayout(8, "channel", "token", 32, 32),
    "int4": QuantLayout(4, "channel", "token", 32, 64),
}


def quant_bytes_per_token_head(layout: QuantLayout, head_dim: int) -> float:
    """Bytes of one quantized token of one KV head, keys plus values.

    Codes take ``head_dim * bits / 8``; each scale (and, at 4 bits, zero point) is fp16: one per token on the
    ``token`` axis, ``head_dim`` per ``group`` tokens on the ``channel`` axis.
    """
    params = 2 if layout.bits == 4 else 1
    total = 0.0
    for axis in (layout.key_axis, layout.value_axis):
        total += head_dim * layout.bits / 8 + params * 2 * (head_dim / layout.group if axis == "channel" else 1)
    return total


def quant_tail_tokens(tokens: int, layout: QuantLayout) -> int:
    """Tokens a `QuantStore` layer keeps in full precision after ``tokens`` were stored.

    Each append quantizes the largest multiple of ``flush`` that leaves at least ``residual`` tokens behind, so
    the tail is ``residual + (tokens - residual) mod flush`` (or everything while ``tokens < residual``).
    """
    if tokens <= layout.residual:
        return tokens
    return layout.residual + (tokens - layout.residual) % layout.flush


def quant_kv_bytes(
    n_layers: int, n_kv_heads: int, head_dim: int, tokens: int, layout: QuantLayout, compute_bytes: float
) -> float:
    """Bytes a `QuantStore` holds for ``tokens`` per layer: quantized part plus the ``compute_bytes`` tail.

    Parameters
    ----------
    n_layers, n_kv_heads, head_dim : int
        The model's KV shape.
    tokens : int
        Tokens stored in every layer.
    layout : QuantLayout
        One of `QUANT_LAYOUTS`.
    compute_bytes : float
        Bytes per element of the compute dtype the tail is kept in (4 for fp32, 2 for bf16).

    Returns
    -------
    float
        ``layers x heads x (quantized x quant_bytes_per_token_head + tail x 2 x head_dim x compute_bytes)``.
    """
    tail = quant_tail_tokens(tokens, layout)
    per_head = (tokens - tail) * quant_bytes_per_token_head(layout, head_dim) + tail * 2 * head_dim * compute_bytes
    return n_layers * n_kv_heads * per_head


def adakv_stored_tokens(
    kept: int, tokens: int, n_kv_heads: int, window: int, alpha_safeguard: float, head_share: float
) -> float:
    """Tokens per KV head AdaKV's padded cache stores when each head's budget is ``kept`` of ``tokens``.

    ``engine/kv/adakv.py`` spreads ``n_kv_heads x kept`` (head, token) pairs over the heads; each head is first
    guaranteed ``g = max(min(window, kept), int(alpha_safeguard x kept))`` pairs (its recent window, which the
    safeguard's top-k picks first, then the rest of the safeguard). The remaining ``n_kv_heads x (kept - g)`` pairs
    go to the best scores of any head, and every head is padded to the largest head's share:
    ``g + head_share x n_kv_heads x (kept - g)``, capped at ``tokens``.

    Parameters
    ----------
    kept, tokens, n_kv_heads, window : int
        The inner policy's per-head budget, the tokens seen, the KV heads and the policy's recent window.
    alpha_safeguard : float
        AdaKV's safeguard fraction of the budget.
    head_share : float
        The fraction of the free pairs the most-favoured head takes: ``1 / n_kv_heads`` when heads score alike
        (no padding), 1 when one head wins every free pair (the worst case). It depends on the attention pattern,
        so it is calibrated (``planner/calibration.json``).

    Returns
    -------
    float
        Stored tokens per KV head and layer.
    """
    if kept >= tokens:
        return float(tokens)
    if not 0.0 <= head_share <= 1.0:
        raise ValueError(f"head_share must lie in [0, 1] (1 / n_kv_heads = no padding), got {head_share}")
    g = max(min(window, kept), int(alpha_safeguard * kept))
    share = max(head_share, 1.0 / n_kv_heads)
    return min(float(tokens), g + share * n_kv_heads * (kept - g))

"""KV bytes as engine/kv stores them: quantized codes plus scales plus a full-precision tail, and AdaKV's padding.

Arithmetic only (no torch): the quantized layouts are engine's own torch-free table (`engine.kv.formats.FORMATS`,
the one `engine.kv.quant` quantizes with), so the planner counts the bytes of the formats the engine really uses.
"""

from __future__ import annotations

from engine.kv.formats import QuantFormat


def quant_kv_bytes(
    n_layers: int, n_kv_heads: int, head_dim: int, tokens: int, fmt: QuantFormat, compute_bytes: float
) -> float:
    """Bytes a `QuantStore` holds for ``tokens`` per layer: quantized part plus the ``compute_bytes`` tail.

    Parameters
    ----------
    n_layers, n_kv_heads, head_dim : int
        The model's KV shape.
    tokens : int
        Tokens stored in every layer.
    fmt : QuantFormat
        One of `engine.kv.formats.FORMATS`.
    compute_bytes : float
        Bytes per element of the compute dtype the tail is kept in (4 for fp32, 2 for bf16).

    Returns
    -------
    float
        ``layers x heads x (quantized x fmt.bytes_per_token(head_dim) + tail x 2 x head_dim x compute_bytes)``.
    """
    tail = fmt.tail_tokens(tokens)
    per_head = (tokens - tail) * fmt.bytes_per_token(head_dim) + tail * 2 * head_dim * compute_bytes
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

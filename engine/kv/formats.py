"""The KV cache's storage layouts and compression defaults, torch-free: one table that `engine.kv.quant` quantizes
with and the capacity planner (planner/kv_bytes.py) counts bytes with.

Importing this module imports no torch (tests/planner checks it), so the planner runs where torch is absent.
"""

from __future__ import annotations

from dataclasses import dataclass

# Compression defaults shared by the policies (their dataclass fields) and the planner's byte estimates.
POLICY_WINDOW = 32  # the most recent tokens every KV head keeps; also SnapKV's observation window
ADAKV_ALPHA_SAFEGUARD = 0.2  # AdaKV's per-head guaranteed fraction of the budget


@dataclass(frozen=True)
class QuantFormat:
    """How keys and values are stored: ``bits`` 8 or 4, ``kind`` "int" or "fp8", the scale axis of each
    ("token": one scale per token and head; "channel": one per channel and head for every ``group`` tokens), and
    ``residual`` recent tokens kept in full precision. Scales (and 4-bit zero points) are fp16."""

    name: str
    bits: int
    kind: str
    key_axis: str
    value_axis: str
    group: int
    residual: int

    @property
    def flush(self) -> int:
        """Tokens are quantized in multiples of this many (a channel-scale group, or 1)."""
        return self.group if "channel" in (self.key_axis, self.value_axis) else 1

    def bytes_per_token(self, head_dim: int) -> float:
        """Stored bytes of one quantized token of one KV head, keys plus values.

        Codes take ``head_dim * bits / 8``; each scale (and, at 4 bits, zero point) is fp16: one per token on the
        ``token`` axis, ``head_dim`` per ``group`` tokens on the ``channel`` axis.
        """
        params = 2 if self.bits == 4 else 1
        total = 0.0
        for axis in (self.key_axis, self.value_axis):
            total += head_dim * self.bits / 8 + params * 2 * (head_dim / self.group if axis == "channel" else 1)
        return total

    def tail_tokens(self, tokens: int) -> int:
        """Tokens a layer keeps in full precision after ``tokens`` were stored (`engine.kv.store.QuantStore`).

        Each append quantizes the largest multiple of ``flush`` that leaves at least ``residual`` tokens behind, so
        the tail is ``residual + (tokens - residual) mod flush`` (or everything while ``tokens <= residual``).
        """
        if tokens <= self.residual:
            return tokens
        return self.residual + (tokens - self.residual) % self.flush


FORMATS: dict[str, QuantFormat] = {
    "int8": QuantFormat("int8", 8, "int", "token", "token", 1, 0),
    "int8-channel": QuantFormat("int8-channel", 8, "int", "channel", "token", 32, 32),
    "fp8": QuantFormat("fp8", 8, "fp8", "token", "token", 1, 0),
    "fp8-channel": QuantFormat("fp8-channel", 8, "fp8", "channel", "token", 32, 32),
    "int4": QuantFormat("int4", 4, "int", "channel", "token", 32, 64),
}

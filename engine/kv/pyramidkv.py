"""PyramidKV: SnapKV scores with budgets that shrink from the lower layers to the upper ones.

Cai et al., "PyramidKV: Dynamic KV Cache Compression based on Pyramidal Information Funneling",
arXiv:2406.02069. Budgets follow the paper's arithmetic sequence (as in kvpress): the mean over layers stays the
uniform budget; layer 0 gets about ``2 - 1/beta`` times it, the top layer ``1/beta`` times it.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.kv.snapkv import SnapKV


@dataclass
class PyramidKV(SnapKV):
    """SnapKV scoring; `layer_budget` decreases linearly with depth (``beta`` sets the steepness)."""

    beta: float = 20.0

    def layer_budget(self, n_seen: int, layer: int, n_layers: int) -> int:
        mean = self.target(n_seen)
        if n_layers == 1 or mean >= n_seen:  # a budget covering every token keeps every token on every layer
            return mean
        base = max(mean - self.window, 0)  # the window is kept on every layer; the rest is shaped
        lo = base / self.beta
        hi = 2 * base - lo
        return max(1, round(self.window + hi - layer * (hi - lo) / (n_layers - 1)))

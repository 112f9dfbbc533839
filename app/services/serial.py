"""One engine per process holds one KV cache: with several generate workers, generations take turns."""

from __future__ import annotations

import threading
from typing import Any


class SerialGenerator:
    """Forwards to ``inner``; `generate` calls from several threads run one at a time."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._lock = threading.Lock()

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self.inner.generate(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

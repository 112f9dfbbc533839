from __future__ import annotations

import pytest

from engine.tokenizer import Tokenizer, load_tokenizer


@pytest.fixture(scope="session")
def tok() -> Tokenizer:
    return load_tokenizer()

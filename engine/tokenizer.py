"""Tokenizer and chat template read from a GGUF file, converted once and cached as ``tokenizer.json``.

The first load converts the GGUF vocabulary through transformers (about 20 s); later loads read the cached
``tokenizer.json`` with the `tokenizers` library in well under a second.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer as HFTokenizer

# $LONGHAUL_DATA_DIR, else the user's data directory: the same rule as app's settings (`default_data_dir`)
DEFAULT_CACHE = (Path(os.environ.get("LONGHAUL_DATA_DIR")
                      or Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "longhaul")
                 .expanduser().absolute() / "cache" / "tokenizers")


@dataclass
class Tokenizer:
    """A fast tokenizer plus the model's chat template (ChatML for SmolLM2).

    ``encode`` never adds special tokens: prompts carry theirs explicitly through ``chat``.
    """

    backend: HFTokenizer
    eos_token: str
    bos_token: str | None
    chat_template: str | None

    def encode(self, text: str) -> list[int]:
        return list(self.backend.encode(text, add_special_tokens=False).ids)

    def encode_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Token ids of ``text`` and each token's character span ``(start, end)`` in it."""
        enc = self.backend.encode(text, add_special_tokens=False)
        return list(enc.ids), [(int(a), int(b)) for a, b in enc.offsets]

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [list(e.ids) for e in self.backend.encode_batch(list(texts), add_special_tokens=False)]

    def count(self, text: str) -> int:
        return len(self.backend.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        return str(self.backend.decode(list(ids), skip_special_tokens=skip_special_tokens))

    def token_id(self, token: str) -> int:
        tid = self.backend.token_to_id(token)
        if tid is None:
            raise KeyError(f"token {token!r} is not in the vocabulary")
        return int(tid)

    @property
    def eos_id(self) -> int:
        return self.token_id(self.eos_token)

    @property
    def vocab_size(self) -> int:
        return int(self.backend.get_vocab_size())

    def chat(self, messages: Sequence[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """Render ChatML (``<|im_start|>role\\ncontent<|im_end|>\\n``), the template SmolLM2 ships."""
        parts = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages]
        if add_generation_prompt:
            parts.append("<|im_start|>assistant\n")
        return "".join(parts)


def _cache_key(path: Path) -> str:
    st = path.stat()
    return hashlib.sha256(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]


def load_tokenizer(gguf_path: str | Path | None = None, cache_dir: str | Path | None = None) -> Tokenizer:
    """Load the tokenizer of a GGUF model (default: the bundled SmolLM2), caching the conversion.

    Parameters
    ----------
    gguf_path
        A ``.gguf`` file, or a directory holding ``tokenizer.json`` (HF layout).
    cache_dir
        Where converted tokenizers are kept; default ``$LONGHAUL_DATA_DIR/cache/tokenizers``.
    """
    if gguf_path is None:
        from engine.assets import smollm2_gguf

        gguf_path = smollm2_gguf()
    path = Path(gguf_path)
    if path.is_dir():
        return _from_dir(path)
    if not path.exists():
        raise FileNotFoundError(f"model file {path} does not exist")
    cache = Path(cache_dir) if cache_dir else DEFAULT_CACHE
    target = cache / _cache_key(path)
    if not (target / "tokenizer.json").exists():
        _convert(path, target)
    return _from_dir(target)


def _from_dir(d: Path) -> Tokenizer:
    backend = HFTokenizer.from_file(str(d / "tokenizer.json"))
    meta: dict[str, object] = {}
    if (d / "tokenizer_config.json").exists():
        meta = json.loads((d / "tokenizer_config.json").read_text())

    def tok(key: str) -> str | None:
        v = meta.get(key)
        if isinstance(v, dict):
            v = v.get("content")
        return str(v) if v else None

    eos = tok("eos_token") or "<|im_end|>"
    template = meta.get("chat_template")
    return Tokenizer(backend, eos, tok("bos_token"), str(template) if template else None)


def _convert(path: Path, target: Path) -> None:
    """Convert the GGUF's tokenizer into ``target``, atomically: concurrent first loads (data-building workers)
    each convert into a private folder and one rename wins; a reader never sees a half-written folder."""
    import shutil
    import tempfile

    from transformers import AutoTokenizer  # heavy: only on the first load of a model

    hf = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        hf.save_pretrained(str(tmp))
        # The GGUF conversion installs a post-processor that prepends <|im_start|> on every encode; we add special
        # tokens explicitly through the chat template, so drop it.
        data = json.loads((tmp / "tokenizer.json").read_text())
        data["post_processor"] = None
        (tmp / "tokenizer.json").write_text(json.dumps(data))
        if target.exists() and not (target / "tokenizer.json").exists():
            shutil.rmtree(target)  # an incomplete folder left by an older, non-atomic conversion
        try:
            tmp.rename(target)
        except OSError:
            if not (target / "tokenizer.json").exists():  # lost the race to a finished conversion: fine
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def synthetic_tokenizer() -> Tokenizer:
    """Random-weight models talk through the bundled SmolLM2 tokenizer, or a byte-level one where it is absent."""
    try:
        return load_tokenizer()
    except (FileNotFoundError, ImportError) as exc:
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers

        logging.getLogger(__name__).warning("bundled tokenizer unavailable (%s): using a byte-level tokenizer", exc)
        vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
        backend = HFTokenizer(models.BPE(vocab=vocab, merges=[]))
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        backend.add_special_tokens(["<|im_start|>", "<|im_end|>"])
        return Tokenizer(backend, "<|im_end|>", None, None)

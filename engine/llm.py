"""`LLM`: load a model and generate text with chunked prefill, a preallocated KV cache and a prefix cache; many
requests at once through the serving core (`submit`, `generate_batch`: engine/llm_engine.py)."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from engine.config import ModelConfig
from engine.cpu_step import FusedCPUStep, fused_step_supported
from engine.kv.cache import KVCache
from engine.kv.compressed import CompressedKVCache, KVSpec
from engine.kv.policy import Policy
from engine.kv.segments import Segment, check_segments, to_token_segments
from engine.llm_engine import EngineConfig, LLMEngine
from engine.model import Transformer
from engine.model_runner import CompressedStatic, GraphStep, Step
from engine.quant import check_weights, quantize_model
from engine.sampling import sample
from engine.sequence import SamplingParams
from engine.sequence import Sequence as Request
from engine.stops import Decoded, StopText, decode_loop
from engine.tokenizer import Tokenizer, load_tokenizer, synthetic_tokenizer
from engine.weights import adapter_manifest, load_model

log = logging.getLogger(__name__)
DECODE_MODES = ("auto", "eager", "static", "graph")


@dataclass
class Generation:
    """The result of one `LLM.generate` call."""

    text: str
    token_ids: list[int]
    prompt_tokens: int
    finish_reason: str  # "stop" (stop token or string) or "length"
    timings_ms: dict[str, float] = field(default_factory=dict)  # "prefill", "decode"
    prefill_tok_s: float = 0.0
    decode_tok_s: float = 0.0
    kv_bytes: int = 0
    cached_tokens: int = 0  # prompt tokens whose KV came from the prefix cache
    kv_stats: dict[str, Any] = field(default_factory=dict)  # from a compressing/quantizing cache (engine/kv/)


class LLM:
    """A single-device Llama-family model with its tokenizer; one request at a time.

    The KV cache is allocated once (grown when a longer request arrives) and kept between requests: it doubles as
    the prefix cache, since a new prompt sharing a prefix with the tokens it holds resumes after that prefix.
    """

    def __init__(self, model: Transformer, tokenizer: Tokenizer, *, max_seq_len: int,
                 kv_budget_bytes: int | None = None, prefill_chunk: int | None = None,
                 decode_mode: str = "auto", kv_dtype: torch.dtype | None = None) -> None:
        """``decode_mode``: ``eager``; ``static`` (device-side position over the whole cache); ``graph`` (static,
        replayed as a CUDA graph); ``auto`` = graph on CUDA, eager elsewhere; ``kv_dtype``: the cache's storage."""
        if decode_mode not in DECODE_MODES:
            raise ValueError(f"unknown decode_mode {decode_mode!r}: choose one of {', '.join(DECODE_MODES)}")
        self.model, self.tokenizer, self.config = model, tokenizer, model.config
        self.max_seq_len, self.kv_budget_bytes = max_seq_len, kv_budget_bytes
        self.device, self.dtype = model.norm.weight.device, model.norm.weight.dtype
        self.kv_dtype = kv_dtype or self.dtype
        self.adapter: str | None = None  # the merged LoRA adapter, if any
        cuda = self.device.type == "cuda"
        # tokens per prefill pass: activations grow with it (an 8B model: ~130 KB a token in bf16, 8.5 GB at 64K)
        self.prefill_chunk = prefill_chunk or (65536 if cuda else 4096)
        self.decode_mode = ("graph" if cuda else "eager") if decode_mode == "auto" else decode_mode
        self._graph: GraphStep | None = None
        self._cache: KVCache | None = None
        self._cached_ids: list[int] = []  # the tokens whose KV the cache holds, in order
        self._engine: LLMEngine | None = None

    @classmethod
    def load(cls, model: str | Path | None = None, *, device: str = "cpu", dtype: torch.dtype = torch.float32,
             max_seq_len: int | None = None, adapter: str | Path | None = "auto", threads: int | None = None,
             kv_budget_bytes: int | None = None, weights: str = "fp32", kv_dtype: torch.dtype | None = None) -> LLM:
        """Load ``model``: None = the bundled SmolLM2 GGUF, ``synthetic:<shape>``, a ``.gguf`` file or an HF dir.

        ``adapter``: a PEFT LoRA directory merged at load; ``"auto"`` = the bundled domain adapter for the bundled
        model (none for other models); None = no adapter. An adapter's ``manifest.json`` may carry the rope
        parameters it was trained with (e.g. YaRN) and its ``max_seq_len``; both are applied.
        ``weights``: fp32 (reference), int8 or q4, quantized after the merge (engine/quant.py; KV then fp16).
        """
        check_weights(weights)
        if threads is not None:
            torch.set_num_threads(threads)
        if adapter == "auto":
            from engine.adapters import default_adapter

            adapter = default_adapter() if model is None else None
        if model is None:
            from engine.assets import smollm2_gguf

            model = smollm2_gguf()
        manifest = adapter_manifest(adapter)
        n = max_seq_len or int(manifest.get("max_seq_len", 8192))
        net = load_model(model, device=device, dtype=dtype, adapter=adapter, max_seq_len=n)
        kv_dtype = kv_dtype or (None if quantize_model(net, weights).weights == "fp32" else torch.float16)
        if manifest.get("rope_parameters"):
            rope = dict(manifest["rope_parameters"])
            theta = float(rope.pop("rope_theta", net.config.rope_theta))
            net.config = dataclasses.replace(net.config, rope_scaling=rope, rope_theta=theta)
            net.setup_rope(n)
        src = str(model)
        tokenizer = synthetic_tokenizer() if src.startswith("synthetic:") else load_tokenizer(Path(src))
        llm = cls(net, tokenizer, max_seq_len=n, kv_budget_bytes=kv_budget_bytes, kv_dtype=kv_dtype)
        llm.adapter = str(adapter) if adapter else None
        return llm

    # -- requests ---------------------------------------------------------------------------------------------------
    def kv_bytes_for(self, n_tokens: int) -> int:
        cfg: ModelConfig = self.config
        return KVCache.bytes_needed(cfg.n_layers, cfg.n_kv_heads, cfg.head_dim, n_tokens, dtype=self.kv_dtype)

    def _prompt_ids(self, prompt: str | list[int], chat: bool,
                    segments: tuple[Segment, ...] = ()) -> tuple[list[int], tuple[Segment, ...]]:
        """The prompt's token ids, and its ``segments`` (characters of a text prompt) as token spans."""
        if isinstance(prompt, str):
            text = self.tokenizer.chat([{"role": "user", "content": prompt}]) if chat else prompt
            if segments:
                shift = text.find(prompt)  # the chat template wraps the prompt
                check_segments(segments, len(prompt), "characters")
                ids, offsets = self.tokenizer.encode_offsets(text)
                moved = [Segment(s.start + shift, s.end + shift, s.kind) for s in segments]
                segments = tuple(to_token_segments(moved, offsets, len(text)))
            else:
                ids = self.tokenizer.encode(text)
        else:
            ids = [int(t) for t in prompt]
        if not ids:
            raise ValueError("the prompt is empty: pass some text or token ids")
        if len(ids) > self.max_seq_len:
            raise ValueError(f"the prompt has {len(ids)} tokens but max_seq_len is {self.max_seq_len}: shorten it "
                             "or load the model with a larger max_seq_len")
        if max(ids) >= self.config.vocab_size or min(ids) < 0:
            raise ValueError(f"token ids must lie in [0, {self.config.vocab_size})")
        return ids, tuple(check_segments(segments, len(ids)))

    def _admit(self, total: int, spec: KVSpec | None, prompt_len: int = 0,
               token_segments: tuple[Segment, ...] = ()) -> KVCache:
        """The request's KV cache, after checking the KV budget (before any work).

        With a ``spec`` the request gets its own cache from ``spec.make_cache``; otherwise the shared cache, which
        also serves as prefix cache.
        """
        need = self.kv_bytes_for(total)
        if self.kv_budget_bytes is not None and need > self.kv_budget_bytes:
            raise ValueError(f"request needs {need / 2**20:.1f} MiB of KV cache for {total} tokens but the budget is "
                             f"{self.kv_budget_bytes / 2**20:.1f} MiB: shorten the prompt or max_new_tokens, or "
                             "raise kv_budget_bytes")
        cfg = self.config
        if spec is not None:
            spec.check_prompt(cfg.n_layers, prompt_len, self.prefill_chunk, token_segments)
            self._cache, self._cached_ids = None, []  # the shared cache's contents are not kept
            made = spec.make_cache(cfg, prompt_len=prompt_len, total=total, chunk=self.prefill_chunk,
                                   dtype=self.dtype, device=self.device)
            if isinstance(made, CompressedKVCache):
                made.segments = token_segments
            return made
        cache = self._cache
        if cache is None or cache.max_len < total:
            size = max(total, min(self.max_seq_len, 2048))
            self._cache = cache = KVCache(cfg.n_layers, cfg.n_kv_heads, cfg.head_dim, size, dtype=self.kv_dtype,
                                          device=self.device)
            self._cached_ids = []
        return cache

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _decoder(self, cache: KVCache) -> Step:
        """The decode step for this cache: eager, static-shape, or a CUDA graph captured once per cache."""
        if cache.policy is not None:  # compressed: static shapes only where no decode-time eviction (prepared later)
            if self.decode_mode != "eager" and isinstance(cache, CompressedKVCache) and cache.static_ready():
                return CompressedStatic(self.model, cache, self.device, graph=self.decode_mode == "graph")
            return lambda tok, pos: self.model(tok.view(1, 1), pos, cache, last_only=True)[:, -1]
        if self.decode_mode == "eager" and fused_step_supported(self.model, cache):
            return FusedCPUStep(self.model, cache)
        if self.decode_mode == "graph":
            if self._graph is None or self._graph.cache is not cache:
                try:
                    self._graph = GraphStep(self.model, cache)
                except RuntimeError as exc:  # capture unsupported here: decode eagerly instead
                    log.warning("CUDA graph capture failed (%s); decoding eagerly", exc)
                    self.decode_mode = "eager"
                    return self._decoder(cache)
            return self._graph
        if self.decode_mode == "static":
            return lambda tok, pos: self.model(tok.view(1, 1), torch.tensor(pos, device=self.device), cache,
                                               last_only=True)[:, -1]
        return lambda tok, pos: self.model(tok.view(1, 1), pos, cache, last_only=True)[:, -1]

    @torch.inference_mode()
    def _prefill(self, ids: list[int], cache: KVCache) -> tuple[torch.Tensor, int]:
        """Run the prompt through the model in chunks, reusing a cached prefix; logits of the last position."""
        reuse = 0
        for a, b in zip(self._cached_ids, ids[:-1], strict=False):  # keep >= 1 token to compute logits
            if a != b:
                break
            reuse += 1
        self._cached_ids = ids[:reuse]  # stays consistent if a chunk fails midway
        tokens = torch.tensor([ids], device=self.device)
        logits = torch.empty(0)
        for start in range(reuse, len(ids), self.prefill_chunk):
            chunk = tokens[:, start:start + self.prefill_chunk]
            logits = self.model(chunk, start, cache, last_only=True)[:, -1]  # (1, vocab)
        cache.length = len(ids)
        self._cached_ids = list(ids)
        return logits, reuse

    def _run(self, prompt: str | list[int], max_new_tokens: int, temperature: float, top_p: float,
             seed: int | None, stop: Sequence[str], stop_token_ids: Sequence[int], chat: bool,
             kv_policy: KVSpec | Policy | None, ignore_eos: bool, out: list[Generation]) -> Iterator[str]:
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        spec = None if kv_policy is None else KVSpec.of(kv_policy)
        ids, token_segments = self._prompt_ids(prompt, chat, spec.segments if spec else ())
        total = min(len(ids) + max_new_tokens, self.max_seq_len)
        cache = self._admit(total, spec, len(ids), token_segments)
        gen = torch.Generator(device=self.device)
        gen.manual_seed(seed) if seed is not None else gen.seed()
        stops = {int(t) for t in stop_token_ids} | (set() if ignore_eos else {self.tokenizer.eos_id})
        texts = StopText(self.tokenizer, stop)

        step = self._decoder(cache)
        self._sync()
        t0 = time.perf_counter()
        logits, reused = self._prefill(ids, cache)
        nxt = sample(logits, temperature, top_p, gen)
        self._sync()
        t1 = time.perf_counter()
        if isinstance(step, CompressedStatic):  # compress, move lengths to the device, capture: not decode time
            step.prepare()
            self._sync()
        t_prep = time.perf_counter()
        done = Decoded(pos=len(ids))
        with torch.inference_mode():
            yield from decode_loop(nxt, step, lambda logits: sample(logits, temperature, top_p, gen), stops, texts,
                                   max_new_tokens, total, done)
        new, reason, pos = done.new, done.reason, done.pos
        cache.length = pos  # positions written; the last sampled token's KV never was
        self._cached_ids = (ids + new)[:pos]
        piece, text = texts.rest(), texts.text
        if piece:
            yield piece
        t2 = time.perf_counter()
        prefill_s, decode_s = t1 - t0, t2 - t_prep
        n_prefilled = len(ids) - reused
        kv_stats = cache.stats() if hasattr(cache, "stats") else {}
        out.append(Generation(
            text=text, token_ids=new, prompt_tokens=len(ids), finish_reason=reason,
            timings_ms={"prefill": prefill_s * 1e3, "decode": decode_s * 1e3,
                        **({"decode_prepare": (t_prep - t1) * 1e3} if isinstance(step, CompressedStatic) else {})},
            prefill_tok_s=n_prefilled / prefill_s if prefill_s > 0 else 0.0,
            decode_tok_s=max(len(new) - 1, 0) / decode_s if decode_s > 0 and len(new) > 1 else 0.0,
            kv_bytes=kv_stats.get("kv_bytes", self.kv_bytes_for(len(ids) + len(new))), cached_tokens=reused,
            kv_stats=kv_stats))

    def generate(self, prompt: str | list[int], *, max_new_tokens: int = 256, temperature: float = 0.0,
                 top_p: float = 1.0, seed: int | None = None, stop: Sequence[str] = (),
                 stop_token_ids: Sequence[int] = (), chat: bool = False, kv_policy: KVSpec | Policy | None = None,
                 ignore_eos: bool = False, on_token: Callable[[str], None] | None = None) -> Generation:
        """Generate a continuation of ``prompt`` (text, or token ids); ``chat`` wraps text in the chat template.

        ``kv_policy``: the request's own KV cache (engine/kv/): a `KVSpec` (compression policy and storage dtype) or
        a bare `Policy` (model-dtype storage); None shares the LLM's cache, which doubles as the prefix cache;
        ``ignore_eos`` keeps decoding past the end-of-sequence token (benchmarks); ``on_token`` is called with each
        piece of text as soon as it is safe to show (the pieces join to the result's text). An exception it raises
        ends the generation there and propagates (a caller whose client went away stops the decode that way).
        """
        out: list[Generation] = []
        for piece in self._run(prompt, max_new_tokens, temperature, top_p, seed, stop, stop_token_ids, chat,
                               kv_policy, ignore_eos, out):
            if on_token is not None:
                on_token(piece)
        return out[0]

    def stream(self, prompt: str | list[int], *, max_new_tokens: int = 256, temperature: float = 0.0,
               top_p: float = 1.0, seed: int | None = None, stop: Sequence[str] = (),
               stop_token_ids: Sequence[int] = (), chat: bool = False,
               kv_policy: KVSpec | Policy | None = None, ignore_eos: bool = False) -> Iterator[str]:
        """Like `generate`, yielding text pieces as they decode."""
        yield from self._run(prompt, max_new_tokens, temperature, top_p, seed, stop, stop_token_ids, chat, kv_policy,
                             ignore_eos, [])

    # -- many requests: the serving core ------------------------------------------------------------------------------
    def serving(self, config: EngineConfig | None = None) -> LLMEngine:
        """The batching engine over a paged pool (built at the first call; a ``config`` rebuilds it)."""
        if self._engine is None or config is not None:
            self._engine = LLMEngine(self.model, self.tokenizer, config or EngineConfig(), self.max_seq_len)
        return self._engine

    def submit(self, prompt: str | list[int], params: SamplingParams | None = None, *, chat: bool = False) -> Request:
        """Queue one request on the serving core; `serving().step()` advances every queued request together."""
        return self.serving().add(self._prompt_ids(prompt, chat)[0], params or SamplingParams())

    def generate_batch(self, prompts: Sequence[str | list[int]], params: SamplingParams | Sequence[SamplingParams]
                       | None = None, *, chat: bool = False) -> list[Generation]:
        """Generate for every prompt at once (continuous batching); results in the prompts' order."""
        ps = list(params) if isinstance(params, Sequence) else [params or SamplingParams()] * len(prompts)
        if len(ps) != len(prompts):
            raise ValueError(f"got {len(prompts)} prompts but {len(ps)} sampling params")
        engine = self.serving()
        seqs = [engine.add(self._prompt_ids(p, chat)[0], sp) for p, sp in zip(prompts, ps, strict=True)]
        t0 = time.perf_counter()
        engine.run()
        ms = (time.perf_counter() - t0) * 1e3
        return [Generation(text=s.texts.text if s.texts else self.tokenizer.decode(s.output_ids),
                           token_ids=s.output_ids, prompt_tokens=s.num_prompt, finish_reason=s.finish_reason,
                           timings_ms={"batch": ms}, kv_bytes=self.kv_bytes_for(len(s)), cached_tokens=s.num_cached)
                for s in seqs]

"""`ModelConfig`: the shape of a Llama-family decoder, built from GGUF metadata, an HF config or a named shape."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

SUPPORTED_ARCHITECTURES = ("llama", "mistral", "qwen2")
# The rotary variants engine/rope.py implements (its ROPE_TYPES keys, checked there at import): named here so that
# a config validates without torch (the planner reads these shapes).
ROPE_TYPE_NAMES = ("default", "linear", "dynamic", "yarn", "longrope", "llama3")
_HF_ARCH = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "mistral", "Qwen2ForCausalLM": "qwen2"}


@dataclass(frozen=True)
class ModelConfig:
    """Hyperparameters of a Llama-family decoder (RMSNorm, rotary, GQA attention, SwiGLU).

    ``rope_scaling`` uses HF's naming (``{"rope_type": "llama3", "factor": 8.0, ...}``); None means plain RoPE.
    """

    vocab_size: int
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    ffn_dim: int
    head_dim: int = 0  # 0 = dim // n_heads
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    rope_scaling: dict[str, Any] | None = None
    max_seq_len: int = 8192
    tie_embeddings: bool = False
    qkv_bias: bool = False
    arch: str = "llama"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.arch not in SUPPORTED_ARCHITECTURES:
            raise ValueError(
                f"unsupported architecture {self.arch!r}: supported are {', '.join(SUPPORTED_ARCHITECTURES)}"
            )
        if self.head_dim == 0:
            object.__setattr__(self, "head_dim", self.dim // max(self.n_heads, 1))
        for name in ("vocab_size", "dim", "n_layers", "n_heads", "n_kv_heads", "ffn_dim", "head_dim", "max_seq_len"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ModelConfig.{name} must be positive, got {getattr(self, name)}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.n_kv_heads})")
        if self.head_dim % 2:
            raise ValueError(f"head_dim must be even for rotary embeddings, got {self.head_dim}")
        if self.rope_scaling is not None:
            kind = self.rope_scaling.get("rope_type", self.rope_scaling.get("type", "default"))
            if kind not in ROPE_TYPE_NAMES:
                raise ValueError(f"unknown rope_type {kind!r}: supported are {', '.join(ROPE_TYPE_NAMES)}")

    @property
    def kv_bytes_per_token(self) -> int:
        """KV cache bytes per token at 2 bytes an element (multiply by itemsize/2 for other dtypes)."""
        return 2 * self.n_layers * self.n_kv_heads * self.head_dim * 2

    def with_(self, **changes: Any) -> ModelConfig:
        return replace(self, **changes)

    @classmethod
    def from_gguf_metadata(cls, meta: dict[str, Any]) -> ModelConfig:
        """Build from GGUF key/values (``general.architecture``, ``<arch>.block_count``, ...)."""
        arch = str(meta.get("general.architecture", ""))
        if arch not in SUPPORTED_ARCHITECTURES:
            raise ValueError(
                f"unsupported GGUF architecture {arch!r}: supported are {', '.join(SUPPORTED_ARCHITECTURES)}"
            )

        def get(key: str, default: Any = None) -> Any:
            full = f"{arch}.{key}"
            if full not in meta and default is None:
                raise ValueError(f"GGUF metadata lacks {full!r}: the file is not a complete {arch} model")
            return meta.get(full, default)

        n_heads = int(get("attention.head_count"))
        dim = int(get("embedding_length"))
        scaling = None
        if meta.get(f"{arch}.rope.scaling.type") == "linear":
            scaling = {"rope_type": "linear", "factor": float(meta[f"{arch}.rope.scaling.factor"])}
        return cls(
            vocab_size=int(meta.get(f"{arch}.vocab_size") or meta["tokenizer.ggml.tokens_count"]),
            dim=dim,
            n_layers=int(get("block_count")),
            n_heads=n_heads,
            n_kv_heads=int(get("attention.head_count_kv", n_heads)),
            ffn_dim=int(get("feed_forward_length")),
            head_dim=int(get("rope.dimension_count", dim // n_heads)),
            norm_eps=float(get("attention.layer_norm_rms_epsilon", 1e-5)),
            rope_theta=float(get("rope.freq_base", 10000.0)),
            rope_scaling=scaling,
            max_seq_len=int(get("context_length", 4096)),
            tie_embeddings=bool(meta.get("_tie_embeddings", True)),
            qkv_bias=arch == "qwen2",
            arch=arch,
        )

    @classmethod
    def from_hf_config(cls, cfg: dict[str, Any]) -> ModelConfig:
        """Build from an HF ``config.json`` dict (Llama, Mistral, Qwen2)."""
        archs = cfg.get("architectures") or []
        arch = _HF_ARCH.get(archs[0] if archs else "", cfg.get("model_type", ""))
        if arch not in SUPPORTED_ARCHITECTURES:
            raise ValueError(
                f"unsupported HF architecture {archs or cfg.get('model_type')!r}: supported are "
                f"{', '.join(_HF_ARCH)}"
            )
        rope = cfg.get("rope_parameters") or cfg.get("rope_scaling")
        theta = float(cfg.get("rope_theta") or (rope or {}).get("rope_theta") or 10000.0)
        if rope is not None:
            rope = {k: v for k, v in rope.items() if k != "rope_theta"}
            if rope.get("rope_type", rope.get("type", "default")) == "default":
                rope = None
        n_heads = int(cfg["num_attention_heads"])
        return cls(
            vocab_size=int(cfg["vocab_size"]),
            dim=int(cfg["hidden_size"]),
            n_layers=int(cfg["num_hidden_layers"]),
            n_heads=n_heads,
            n_kv_heads=int(cfg.get("num_key_value_heads") or n_heads),
            ffn_dim=int(cfg["intermediate_size"]),
            head_dim=int(cfg.get("head_dim") or cfg["hidden_size"] // n_heads),
            norm_eps=float(cfg.get("rms_norm_eps", 1e-6)),
            rope_theta=theta,
            rope_scaling=rope,
            max_seq_len=int(cfg.get("max_position_embeddings", 4096)),
            tie_embeddings=bool(cfg.get("tie_word_embeddings", False)),
            qkv_bias=arch == "qwen2" or bool(cfg.get("attention_bias", False)),
            arch=arch,
        )

    @classmethod
    def named(cls, name: str) -> ModelConfig:
        """A named synthetic shape (see ``SHAPES``)."""
        if name not in SHAPES:
            raise ValueError(f"unknown model shape {name!r}: choose one of {', '.join(SHAPES)}")
        return SHAPES[name]


_LLAMA3_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 8192}
_L3_8B = ModelConfig(vocab_size=128256, dim=4096, n_layers=32, n_heads=32, n_kv_heads=8, ffn_dim=14336,
                     norm_eps=1e-5, rope_theta=500000.0, rope_scaling=_LLAMA3_ROPE, max_seq_len=131072)
_L3_70B = _L3_8B.with_(dim=8192, n_layers=80, n_heads=64, ffn_dim=28672)

SHAPES: dict[str, ModelConfig] = {
    "llama3-8b": _L3_8B,
    "llama3-70b": _L3_70B,
    "llama3-70b-layer": _L3_70B.with_(n_layers=1),
    "smollm2-135m": ModelConfig(vocab_size=49152, dim=576, n_layers=30, n_heads=9, n_kv_heads=3, ffn_dim=1536,
                                rope_theta=100000.0, max_seq_len=8192, tie_embeddings=True),
    "tiny-llama3": ModelConfig(vocab_size=256, dim=64, n_layers=2, n_heads=4, n_kv_heads=2, ffn_dim=128,
                               rope_theta=500000.0, max_seq_len=512,
                               rope_scaling={**_LLAMA3_ROPE, "original_max_position_embeddings": 64}),
    "tiny-qwen2": ModelConfig(vocab_size=256, dim=64, n_layers=2, n_heads=4, n_kv_heads=2, ffn_dim=128,
                              rope_theta=1e6, max_seq_len=512, tie_embeddings=True, qkv_bias=True, arch="qwen2"),
    "tiny-mistral": ModelConfig(vocab_size=256, dim=64, n_layers=2, n_heads=4, n_kv_heads=1, ffn_dim=128,
                                max_seq_len=512, arch="mistral"),
}

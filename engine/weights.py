"""Load a `Transformer` from GGUF, an HF safetensors directory or random weights (``synthetic:<shape>``).

Every source is first read into HF parameter names (``model.layers.0.self_attn.q_proj.weight``), so PEFT LoRA
adapters merge the same way for all of them; then `to_engine_names` fuses q/k/v and gate/up for the model, which
is built on the meta device and filled with ``load_state_dict(assign=True)``.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.config import ModelConfig
from engine.model import Transformer

log = logging.getLogger(__name__)
StateDict = dict[str, torch.Tensor]

_GGUF_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
_GGUF_BLOCK = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
               "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
               "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}


def _unpermute(w: torch.Tensor, n_head: int) -> torch.Tensor:
    """Undo llama.cpp's rope row permutation of ``attn_q``/``attn_k`` (rows interleaved per head)."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def readable_gguf_types() -> list[str]:
    """The GGUF tensor types `read_gguf` dequantizes (those the gguf package implements)."""
    import gguf
    from gguf.quants import dequantize

    names = []
    for kind in gguf.GGMLQuantizationType:
        block, size = gguf.GGML_QUANT_SIZES[kind]
        try:
            dequantize(np.zeros((1, size), dtype=np.uint8) if block > 1 else np.zeros(1, np.float32), kind)
        except NotImplementedError:
            continue
        except (ValueError, TypeError, AssertionError):
            pass
        names.append(kind.name)
    return names


def read_gguf(path: Path) -> tuple[StateDict, ModelConfig]:
    """Dequantize every tensor of a GGUF file to fp32 under HF names, with the model's config."""
    try:
        import gguf
        from gguf.quants import dequantize
    except ImportError as exc:
        raise ValueError("reading GGUF needs the gguf package: `pip install gguf`") from exc
    reader = gguf.GGUFReader(str(path))
    meta = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("tokenizer.ggml.")}
    names = {t.name for t in reader.tensors}
    meta["_tie_embeddings"] = "output.weight" not in names
    cfg = ModelConfig.from_gguf_metadata(meta)
    sd: StateDict = {}
    for t in reader.tensors:
        stem, kind = t.name.rsplit(".", 1)
        m = re.fullmatch(r"blk\.(\d+)\.(\w+)", stem)
        if m and m.group(2) in _GGUF_BLOCK:
            name = f"model.layers.{m.group(1)}.{_GGUF_BLOCK[m.group(2)]}.{kind}"
        elif stem in _GGUF_NAMES:
            name = f"{_GGUF_NAMES[stem]}.{kind}"
        else:
            log.debug("skipping GGUF tensor %s", t.name)
            continue
        try:
            w = torch.from_numpy(dequantize(t.data, t.tensor_type).copy())
        except NotImplementedError as exc:
            kind = gguf.GGMLQuantizationType(t.tensor_type).name
            raise ValueError(f"GGUF tensor {t.name} is {kind}, a quantization type we cannot read: supported are "
                             f"{', '.join(readable_gguf_types())}") from exc
        if cfg.arch in ("llama", "mistral") and m and m.group(2) in ("attn_q", "attn_k"):
            w = _unpermute(w, cfg.n_heads if m.group(2) == "attn_q" else cfg.n_kv_heads)
        sd[name] = w
    return sd, cfg


def read_hf_dir(path: Path) -> tuple[StateDict, ModelConfig]:
    """Memory-map every ``*.safetensors`` file of an HF checkpoint directory."""
    from safetensors.torch import load_file

    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{path} has no config.json: pass an HF model directory, a .gguf file or "
                                "synthetic:<shape>")
    cfg = ModelConfig.from_hf_config(json.loads((path / "config.json").read_text()))
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{path} has no *.safetensors weights (PyTorch .bin checkpoints are not supported)")
    sd: StateDict = {}
    for f in files:
        sd.update(load_file(str(f)))
    return sd, cfg


def merge_lora(sd: StateDict, adapter: Path) -> None:
    """Merge a PEFT LoRA adapter in place: ``W += scale * B @ A`` with ``scale = alpha / r`` (or / sqrt(r))."""
    from safetensors.torch import load_file

    conf_path, weights_path = adapter / "adapter_config.json", adapter / "adapter_model.safetensors"
    if not conf_path.exists() or not weights_path.exists():
        raise FileNotFoundError(f"{adapter} is not a PEFT adapter: it needs adapter_config.json and "
                                "adapter_model.safetensors")
    conf = json.loads(conf_path.read_text())
    r, alpha = int(conf["r"]), float(conf.get("lora_alpha", conf["r"]))
    scale = alpha / (r**0.5 if conf.get("use_rslora") else r)
    lora = load_file(str(weights_path))
    merged = 0
    for key, a in lora.items():
        if ".lora_A." not in key:
            continue
        b = lora[key.replace(".lora_A.", ".lora_B.")]
        target = re.sub(r"^base_model\.model\.", "", key.replace(".lora_A.weight", ".weight"))
        if target not in sd:
            raise ValueError(f"LoRA adapter targets {target!r}, which the base model lacks: wrong base model?")
        w = sd[target]
        sd[target] = (w.float() + scale * (b.float() @ a.float())).to(w.dtype)
        merged += 1
    if merged == 0:
        raise ValueError(f"{adapter} holds no lora_A/lora_B weights")
    log.info("merged %d LoRA matrices from %s (scale %.3f)", merged, adapter, scale)


def to_engine_names(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """Rename HF parameters to the engine's, fusing q/k/v and gate/up; raise on missing tensors."""

    def take(name: str) -> torch.Tensor:
        if name not in sd:
            raise ValueError(f"checkpoint lacks tensor {name!r}: is it a complete {cfg.arch} model?")
        return sd[name]

    out: StateDict = {"embed.weight": take("model.embed_tokens.weight"), "norm.weight": take("model.norm.weight")}
    out["lm_head.weight"] = out["embed.weight"] if cfg.tie_embeddings else take("lm_head.weight")
    for i in range(cfg.n_layers):
        p, q = f"model.layers.{i}.", f"layers.{i}."
        att = [take(f"{p}self_attn.{n}_proj.weight") for n in "qkv"]
        out[q + "attn.wqkv.weight"] = torch.cat(att)
        if cfg.qkv_bias:
            out[q + "attn.wqkv.bias"] = torch.cat([take(f"{p}self_attn.{n}_proj.bias") for n in "qkv"])
        out[q + "attn.wo.weight"] = take(f"{p}self_attn.o_proj.weight")
        out[q + "mlp.w13.weight"] = torch.cat([take(f"{p}mlp.gate_proj.weight"), take(f"{p}mlp.up_proj.weight")])
        out[q + "mlp.w2.weight"] = take(f"{p}mlp.down_proj.weight")
        out[q + "attn_norm.weight"] = take(f"{p}input_layernorm.weight")
        out[q + "mlp_norm.weight"] = take(f"{p}post_attention_layernorm.weight")
    return out


def synthetic_state_dict(cfg: ModelConfig, device: str | torch.device, dtype: torch.dtype,
                         seed: int = 0) -> StateDict:
    """Random weights (normal, std 0.02; norms at 1) of the given shape, created directly on ``device``."""
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in Transformer(cfg).state_dict().items()}
    gen = torch.Generator(device=device).manual_seed(seed)
    sd: StateDict = {}
    for name, shape in shapes.items():
        if name.endswith("norm.weight"):
            sd[name] = torch.ones(shape, device=device, dtype=dtype)
        elif name == "lm_head.weight" and cfg.tie_embeddings:
            continue
        else:
            sd[name] = (torch.randn(shape, device=device, dtype=dtype, generator=gen) * 0.02)
    if cfg.tie_embeddings:
        sd["lm_head.weight"] = sd["embed.weight"]
    return sd


def load_model(source: str | Path, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
               adapter: str | Path | None = None, max_seq_len: int | None = None) -> Transformer:
    """Build the model for ``source``: ``synthetic:<shape>``, a ``.gguf`` file or an HF safetensors directory."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating torch dtype (torch.float32, torch.bfloat16, ...), got {dtype!r}")
    src = str(source)
    if src.startswith("synthetic:"):
        if adapter is not None:
            raise ValueError("a LoRA adapter needs real base weights, not synthetic:<shape>")
        cfg = ModelConfig.named(src.split(":", 1)[1])
        sd = synthetic_state_dict(cfg, device, dtype)
    else:
        path = Path(src)
        if not path.exists():
            raise FileNotFoundError(f"model {path} does not exist: pass a .gguf file, an HF directory or "
                                    "synthetic:<shape>")
        hf_sd, cfg = read_gguf(path) if path.suffix == ".gguf" else read_hf_dir(path)
        if adapter is not None:
            merge_lora(hf_sd, Path(adapter))
        sd = {k: v.to(device=device, dtype=dtype) for k, v in to_engine_names(hf_sd, cfg).items()}
        if cfg.tie_embeddings:
            sd["lm_head.weight"] = sd["embed.weight"]
    with torch.device("meta"):
        model = Transformer(cfg)
    model.load_state_dict(sd, assign=True, strict=True)
    model.setup_rope(max_seq_len or cfg.max_seq_len)
    return model.eval().requires_grad_(False)


def adapter_manifest(adapter: str | Path | None) -> dict[str, Any]:
    """The ``manifest.json`` beside a LoRA adapter (empty when there is none)."""
    if adapter is None or not (Path(adapter) / "manifest.json").exists():
        return {}
    return dict(json.loads((Path(adapter) / "manifest.json").read_text()))

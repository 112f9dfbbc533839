"""Tiny random Llama-3, Qwen2 and Mistral checkpoints: our model equals transformers on the same weights."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

COMMON: dict[str, Any] = dict(vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                              num_attention_heads=4, head_dim=16, max_position_embeddings=256)


def _hf_model(arch: str) -> torch.nn.Module:
    import transformers as tf

    if arch == "llama3":
        cfg = tf.LlamaConfig(**COMMON, num_key_value_heads=2, rms_norm_eps=1e-5,
                             rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                              "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                              "original_max_position_embeddings": 32})
        cls = tf.LlamaForCausalLM
    elif arch == "qwen2":
        cfg = tf.Qwen2Config(**COMMON, num_key_value_heads=2, tie_word_embeddings=True, rope_theta=1e6)
        cls = tf.Qwen2ForCausalLM
    else:
        cfg = tf.MistralConfig(**COMMON, num_key_value_heads=1, sliding_window=None)
        cls = tf.MistralForCausalLM
    torch.manual_seed(0)
    model = cls(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or "bias" in name:
                p.copy_(torch.randn_like(p) * 0.1 + (1.0 if "norm" in name else 0.0))
    return model


@pytest.mark.parametrize("arch", ["llama3", "qwen2", "mistral"])
def test_tiny_model_matches_transformers(arch: str, tmp_path: Path) -> None:
    from engine.weights import load_model

    hf = _hf_model(arch)
    hf.save_pretrained(tmp_path)
    ours = load_model(tmp_path)
    assert ours.config.qkv_bias == (arch == "qwen2")
    ids = torch.randint(0, 300, (2, 40), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        diff = (ours(ids) - hf(ids).logits).abs().max().item()
    assert diff <= 1e-5


def test_lora_adapter_merged_at_load(tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model

    from engine.weights import load_model

    hf = _hf_model("llama3")
    hf.save_pretrained(tmp_path / "base")
    lora = get_peft_model(hf, LoraConfig(r=4, lora_alpha=8, init_lora_weights=False,
                                         target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                         "up_proj", "down_proj"]))
    lora.save_pretrained(tmp_path / "adapter")
    ours = load_model(tmp_path / "base", adapter=tmp_path / "adapter")
    plain = load_model(tmp_path / "base")
    ids = torch.randint(0, 300, (1, 30), generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        ref = lora(ids).logits
        assert (ours(ids) - ref).abs().max().item() <= 1e-5
        assert (plain(ids) - ref).abs().max().item() > 1e-3  # the adapter changes the model


def test_missing_tensor_and_unknown_architecture(tmp_path: Path) -> None:
    import json

    from safetensors.torch import load_file, save_file

    from engine.config import ModelConfig
    from engine.weights import load_model

    hf = _hf_model("mistral")
    hf.save_pretrained(tmp_path)
    shard = tmp_path / "model.safetensors"
    sd = load_file(str(shard))
    del sd["model.layers.1.mlp.up_proj.weight"]
    save_file(sd, str(shard), metadata={"format": "pt"})
    with pytest.raises(ValueError, match="model.layers.1.mlp.up_proj.weight"):
        load_model(tmp_path)
    conf = json.loads((tmp_path / "config.json").read_text())
    with pytest.raises(ValueError, match="supported are"):
        ModelConfig.from_hf_config({**conf, "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"})
    with pytest.raises(ValueError, match="unknown rope_type"):
        ModelConfig.named("tiny-llama3").with_(rope_scaling={"rope_type": "su"})
    with pytest.raises(ValueError, match="dtype"):
        load_model("synthetic:tiny-llama3", dtype=torch.int8)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "nope.gguf")

"""LoRA adapters that ship with longhaul (PEFT format: adapter_config.json + adapter_model.safetensors)."""

from __future__ import annotations

from pathlib import Path

ADAPTERS = Path(__file__).parent
DEFAULT = "smollm2-orders"  # SmolLM2-135M-Instruct tuned on generated order histories (see its manifest.json)


def default_adapter() -> Path | None:
    """The bundled domain adapter for the bundled model, or None when it is not in this checkout."""
    d = ADAPTERS / DEFAULT
    return d if (d / "adapter_config.json").exists() else None

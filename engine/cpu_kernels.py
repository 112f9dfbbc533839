"""The CPU decode kernels (engine/csrc/): AVX2 GEMV on GGUF Q8_0/Q4_1 blocks, one-query attention over an fp16 KV
cache, and a whole-model decode step. Compiled once with the machine's C++ compiler (torch.utils.cpp_extension)
into a cache directory (``$LONGHAUL_KERNEL_CACHE``, default ``~/.cache/longhaul/kernels``) and reused after that.

The extension shares torch's OpenMP runtime, so ``torch.set_num_threads`` sets its thread count too.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
from pathlib import Path
from types import ModuleType

import torch

log = logging.getLogger(__name__)
SOURCES = ("ops.cpp", "step.cpp")
HEADERS = ("simd.h", "kernels.h")
CSRC = Path(__file__).parent / "csrc"
REQUIRED_FLAGS = ("avx2", "fma", "f16c")


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def unsupported_reason() -> str | None:
    """Why the kernels cannot run here (None when they can)."""
    missing = [f for f in REQUIRED_FLAGS if f not in cpu_flags()]
    if missing:
        return f"this CPU lacks {', '.join(missing)} (the quantized CPU kernels need AVX2, FMA and F16C)"
    if shutil.which(os.environ.get("CXX", "c++")) is None and shutil.which("g++") is None:
        return "no C++ compiler found (install g++, e.g. `apt-get install build-essential`, or set CXX)"
    return None


def _cache_dir() -> Path:
    digest = hashlib.sha256()
    for name in SOURCES + HEADERS:
        digest.update((CSRC / name).read_bytes())
    digest.update(torch.__version__.encode())
    root = Path(os.environ.get("LONGHAUL_KERNEL_CACHE", Path.home() / ".cache" / "longhaul" / "kernels"))
    return root / digest.hexdigest()[:16]


@functools.cache
def kernels() -> ModuleType:
    """The compiled extension (built at the first call in a fresh cache: about a minute)."""
    reason = unsupported_reason()
    if reason is not None:
        raise RuntimeError(f"quantized CPU weights cannot run here: {reason}; load with weights='fp32'")
    from torch.utils.cpp_extension import load

    build = _cache_dir()
    build.mkdir(parents=True, exist_ok=True)
    flags = ["-O3", "-mavx2", "-mfma", "-mf16c", "-fopenmp", "-std=c++17"]
    try:
        return load(name="longhaul_cpu_kernels", sources=[str(CSRC / s) for s in SOURCES], extra_cflags=flags,
                    extra_ldflags=["-fopenmp"], build_directory=str(build), verbose=False)
    except (RuntimeError, OSError) as exc:
        raise RuntimeError(f"building the quantized CPU kernels in {build} failed ({exc}); load with "
                           "weights='fp32' or fix the compiler") from exc

"""The Triton decode kernels on a GPU: correctness against the torch ops, and the KV read rate of each.

For llama3-8b's attention shape (32 query heads, 8 KV heads, head dim 128) at several cache lengths: the split-KV
kernel and the torch-ops path (`_decode_out`) each read one layer's K and V once per call; the report gives each
one's time, its read rate against the measured copy bandwidth, and their ratio. The last row is a 32K position in
a 128K cache (a shared cache after a long request): the kernel reads only up to the position, the torch ops all of
it (the rate is counted over the 32K bytes the answer needs). Writes
``eval/results/decode_kernels_gpu.json``; run with ``python -m eval.bench.decode_kernels`` on a CUDA machine.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import torch

from engine.attention import _decode_out, _gqa_single
from engine.decode_kernel import decode_attention, n_splits, rope_write
from engine.rope import apply_rotary
from eval.bench.engine_gpu import _time, copy_bandwidth

RESULTS = Path(__file__).resolve().parent / "results"


def check(T: int, H: int = 32, hkv: int = 8, D: int = 128, cache: int | None = None) -> dict[str, Any]:
    """One layer's decode attention at position ``T - 1`` of a cache of ``cache`` (default T + 64) positions."""
    g = torch.Generator(device="cuda").manual_seed(T)
    n = cache or T + 64
    q = torch.randn(1, H, 1, D, device="cuda", dtype=torch.bfloat16, generator=g)
    k = torch.randn(1, hkv, n, D, device="cuda", dtype=torch.bfloat16, generator=g)
    v = torch.randn(1, hkv, n, D, device="cuda", dtype=torch.bfloat16, generator=g)
    pos = torch.tensor(T - 1, device="cuda")
    scale = D**-0.5
    ref, _ = _gqa_single(q.float(), k.float(), v.float(), scale, pos)
    out = decode_attention(q, k, v, scale, pos)
    torch_ops = _decode_out(q, k, v, scale, pos)
    kv_bytes = 2 * hkv * T * D * 2
    t_kernel = _time(lambda: decode_attention(q, k, v, scale, pos), 20)
    t_torch = _time(lambda: _decode_out(q, k, v, scale, pos), 20)
    return {"context": T, "cache": n, "splits": n_splits(1, hkv, n, q.device),
            "max_abs_err_kernel": (out.float() - ref).abs().max().item(),
            "max_abs_err_torch_ops": (torch_ops.float() - ref).abs().max().item(),
            "us_kernel": t_kernel * 1e6, "us_torch_ops": t_torch * 1e6,
            "kv_read_tb_s_kernel": kv_bytes / t_kernel / 1e12, "kv_read_tb_s_torch_ops": kv_bytes / t_torch / 1e12,
            "speedup": t_torch / t_kernel}


def check_int8(T: int, H: int = 32, hkv: int = 8, D: int = 128) -> dict[str, Any]:
    """The int8 path at block 64 and 128 against the bf16 kernel: time and the read rate over the codes + scales."""
    from engine.kv.quant import FORMATS, quantize

    g = torch.Generator(device="cuda").manual_seed(T)
    q = torch.randn(1, H, 1, D, device="cuda", dtype=torch.bfloat16, generator=g)
    k = torch.randn(1, hkv, T + 64, D, device="cuda", dtype=torch.bfloat16, generator=g)
    v = torch.randn(1, hkv, T + 64, D, device="cuda", dtype=torch.bfloat16, generator=g)
    qk, qv = quantize(k, FORMATS["int8"], "token"), quantize(v, FORMATS["int8"], "token")
    pos, cur = torch.tensor(T - 1, device="cuda"), (k[:, :, T - 1:T].contiguous(), v[:, :, T - 1:T].contiguous())
    out: dict[str, Any] = {"context": T, "us_bf16": _time(lambda: decode_attention(q, k, v, 0.088, pos), 20) * 1e6}
    for block in (64, 128):
        def run(bn: int = block) -> torch.Tensor:
            return decode_attention(q, qk.data, qv.data, 0.088, pos, qk.scale, qv.scale, *cur, block=bn)
        out[f"us_int8_block{block}"] = _time(run, 20) * 1e6
    return out


def check_rope_write(H: int = 32, hkv: int = 8, D: int = 128, T: int = 4096) -> float:
    qkv = torch.randn(1, 1, (H + 2 * hkv) * D, device="cuda", dtype=torch.bfloat16)
    cos, sin = torch.randn(1, D, device="cuda", dtype=torch.bfloat16), torch.randn(1, D, device="cuda",
                                                                                   dtype=torch.bfloat16)
    kc = torch.zeros(1, hkv, T, D, device="cuda", dtype=torch.bfloat16)
    vc = torch.zeros_like(kc)
    q = rope_write(qkv, cos, sin, torch.tensor(77, device="cuda"), kc, vc, H)
    qk, v = qkv.split([(H + hkv) * D, hkv * D], -1)
    ref = apply_rotary(qk.view(1, 1, H + hkv, D).transpose(1, 2).float(), cos.float(), sin.float())
    err = max((q.float() - ref[:, :H]).abs().max().item(), (kc[:, :, 77].float() - ref[:, H:, 0]).abs().max().item())
    assert torch.equal(vc[:, :, 77], v.view(1, hkv, D)), "values must be copied exactly"
    return err


def main() -> dict[str, Any]:
    bw = copy_bandwidth()
    rows = [check(T) for T in (8192, 32768, 131072)] + [check(32768, cache=131072 + 64)]
    int8_rows = [check_int8(T) for T in (32768, 131072)]
    rep: dict[str, Any] = {"gpu_copy_tb_s": bw / 1e12, "rope_write_max_abs_err": check_rope_write(), "rows": rows,
                           "int8": int8_rows,
                           "device": torch.cuda.get_device_name(), "torch": torch.__version__,
                           "command": "python -m eval.bench.decode_kernels",
                           "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    for r in rows:
        r["kv_read_frac_of_copy_kernel"] = r["kv_read_tb_s_kernel"] * 1e12 / bw
        r["kv_read_frac_of_copy_torch_ops"] = r["kv_read_tb_s_torch_ops"] * 1e12 / bw
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "decode_kernels_gpu.json").write_text(json.dumps(rep, indent=2) + "\n")
    return rep


if __name__ == "__main__":
    report = main()
    sys.stdout.write(json.dumps({k: v for k, v in report.items() if k != "rows"}) + "\n")
    for row in report["rows"] + report["int8"]:
        sys.stdout.write(json.dumps(row) + "\n")
    bad = [r for r in report["rows"] if r["max_abs_err_kernel"] > 2e-2] or report["rope_write_max_abs_err"] > 5e-2
    sys.exit(1 if bad else 0)

# One GPU call: the paged decode kernel vs a float64 reference (bf16), then `python -m eval.bench.batch` with CUDA
# graphs and the transformers peer at batch 1/8/32/64 (2K prompts), then eager at batch 1 and 64. Not run yet.
# From a helper worktree: copy engine/, eval/__init__.py and eval/bench/ into an ignored folder of the session's
# checkout and carry it (the device copies that checkout); results land in $OUT.
set -x
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 - <<'PY' 2>&1 | tee $OUT/check.log
import math, torch
from engine.paged_kernel import paged_decode_attention
from engine.attention import attention
torch.manual_seed(0)
for H,hkv,D,page,lens in [(32,8,128,64,[1,70,2100,513]),(9,3,64,64,[5,129,4000])]:
    nb=sum(-(-n//page) for n in lens)+3
    kp,vp=(torch.randn(nb,page,hkv,D,device='cuda',dtype=torch.bfloat16) for _ in range(2))
    perm=torch.randperm(nb).tolist(); w=max(-(-n//page) for n in lens); t=[];a=0
    for n in lens:
        k=-(-n//page); t.append(perm[a:a+k]+[perm[-1]]*(w-k)); a+=k
    q=torch.randn(len(lens),H,1,D,device='cuda',dtype=torch.bfloat16)
    out=paged_decode_attention(q,kp,vp,torch.tensor(t,dtype=torch.int32,device='cuda'),torch.tensor(lens,dtype=torch.int32,device='cuda'),1/math.sqrt(D))
    for b,n in enumerate(lens):
        bl=torch.tensor(t[b][:-(-n//page)],device='cuda')
        k=kp[bl].reshape(-1,hkv,D)[:n].transpose(0,1)[None].double(); v=vp[bl].reshape(-1,hkv,D)[:n].transpose(0,1)[None].double()
        ref,_=attention(q[b:b+1].double(),k,v,causal=False,backend='math')
        err=((out[b:b+1].double()-ref).norm()/ref.norm()).item()
        print('paged kernel rel err',H,hkv,D,n,f'{err:.2e}','OK' if err<1e-2 else 'BAD')
PY
timeout 420 python3 -m eval.bench.batch --device cuda --batches 1,8,32,64 --prompt-len 2048 --decode-tokens 64 --out $OUT/engine_batch_gpu.json 2>&1 | grep -v Warning | tee $OUT/bench.log | tail -8
timeout 150 python3 -m eval.bench.batch --device cuda --batches 1,64 --prompt-len 2048 --decode-tokens 64 --eager --no-peer --out $OUT/engine_batch_gpu_eager.json 2>&1 | tee $OUT/eager.log | tail -3

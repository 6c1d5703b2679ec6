"""Make OpenBLAS's idle worker threads stop spinning sooner (before NumPy loads OpenBLAS).

NOTE: after each multi-threaded GEMM, OpenBLAS's worker threads spin for 2**28 cycles (~0.1 s)
waiting for the next one. chainrule runs convolutions, LayerNorm, the Transformer's
feed-forward block, recurrent layers and Adam on its own two threads (``ops/_threads.py``), and
a spinning OpenBLAS worker takes the second core from them: measured on 2 cores, a Transformer
encoder step took 121-137 ms with the default and 76-86 ms with a timeout of 2**20 cycles
(~0.4 ms: long enough to bridge the gaps between the GEMMs of a plain MLP step, whose time did
not change measurably). OpenBLAS reads OPENBLAS_THREAD_TIMEOUT once, when it is loaded, so this
only takes effect when chainrule is imported before NumPy; otherwise set the variable yourself.
A value already in the environment is kept.
"""

from __future__ import annotations

import os
import sys

TIMEOUT = "20"  # log2 of the spin cycles; OpenBLAS accepts 4..30, default 28

if "numpy" not in sys.modules:
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", TIMEOUT)

"""Where compiled code is kept: in the data dir, so a restarted bot (a new container included)
finds the decoding step it compiled before instead of compiling it again.

On a GPU the bot compiles its decoding step before its first answer (tuner/static_decode.py) and
the training child compiles its decoder layers. torch keeps what it compiled (inductor's graphs,
Triton's kernels) in `TORCHINDUCTOR_CACHE_DIR`, by default under /tmp, which a container loses.
From the cache the warm-up took 0.15-0.38x its time on an empty one (`python -m
tests.bench.compile_start`, CPU, tiny and 1.1B shapes; not yet measured on a GPU, where an 8B
bot's compile takes 2-5 minutes). The
cache holds code and graphs, not message text or weights (they are the graphs' inputs); entries of
another torch version or GPU are simply not used.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "TORCHINDUCTOR_CACHE_DIR"
FOLDER = "compile-cache"


def keep_compiled_code(data_dir: Path) -> str:
    """Point torch's compile cache at `data_dir`/compile-cache for this process and the training
    children it starts, unless the operator chose a place (TORCHINDUCTOR_CACHE_DIR). Returns it."""
    return os.environ.setdefault(ENV, str(Path(data_dir).resolve() / FOLDER))

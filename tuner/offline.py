"""Nothing downloads at run time: the Hugging Face libraries are told so before they are imported.

bitsandbytes (0.50, through the `kernels` package that transformers 5.25 installs) looks kernels up
on the model hub when it is imported on some CPUs; offline, it skips that and uses its own.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def stay_offline(environ: MutableMapping[str, str] = os.environ) -> None:
    """Offline unless the operator set these variables otherwise (read when the libraries load)."""
    for name, value in OFFLINE.items():
        environ.setdefault(name, value)

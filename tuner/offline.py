"""Nothing downloads at run time: the Hugging Face libraries are told so before they are imported.

bitsandbytes (0.50, through the `kernels` package that transformers 5.25 installs) looks kernels up
on the model hub when it is imported on some CPUs; offline, it skips that and uses its own.
What does download (`tunebot model pull`, and the pull of a base model on first start) runs in a
process of its own with the operator's environment (`operator_environ`): this one stays offline.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


_SET_HERE: set[str] = set()  # the OFFLINE variables stay_offline set (the operator had not)


def stay_offline(environ: MutableMapping[str, str] = os.environ) -> None:
    """Offline unless the operator set these variables otherwise (read when the libraries load)."""
    for name, value in OFFLINE.items():
        if name not in environ:
            environ[name] = value
            _SET_HERE.add(name)


def operator_environ() -> dict[str, str]:
    """The environment as the operator set it: without what stay_offline added."""
    return {name: value for name, value in os.environ.items() if name not in _SET_HERE}


def operator_offline() -> bool:
    """Whether the operator asked for offline mode (HF_HUB_OFFLINE set to a true value)."""
    value = operator_environ().get("HF_HUB_OFFLINE", "")
    return value.strip().lower() in {"1", "true", "yes", "on"}

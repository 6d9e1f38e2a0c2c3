"""Reading the policy file: YAML in, a validated `Policies` out, or an error naming path and field."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from policies.schema import Policies

DEFAULT_POLICY_FILE = Path(__file__).with_name("default_policy.yaml")


class PolicyError(ValueError):
    """The policy file cannot be used; the message names the file and the field to fix."""


def load_policies(path: str | Path | None = None) -> Policies:
    """Load and validate a policy file; `None` means the bundled defaults."""
    path = Path(path) if path is not None else DEFAULT_POLICY_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read policy file: {exc.strerror or exc}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise PolicyError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise PolicyError(f"{path}: the top level must be a mapping of sections")
    try:
        return Policies.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(_describe(path, exc)) from exc


def _describe(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: invalid policy"]
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"]) or "(top level)"
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field (check the spelling against policies/default_policy.yaml)"
        lines.append(f"  {field}: {message}")
    return "\n".join(lines)

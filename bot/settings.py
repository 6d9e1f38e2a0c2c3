"""Where things live and how to reach Slack: environment variables (TUNEBOT_*) and `.env`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, f"TUNEBOT_{name}")


class Settings(BaseSettings):
    """Read once by the composition root; every field can be set as TUNEBOT_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="TUNEBOT_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default=Path(".tunebot"), description="Folder for the database, models, adapters and logs."
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: a SQLite file in the data dir."
    )
    base_model: str = Field(
        default="smollm2",
        description="'smollm2' (bundled SmolLM2-135M-Instruct) or a local model folder.",
    )
    policy_file: Path | None = Field(
        default=None, description="Policy YAML; default: the bundled policies/default_policy.yaml."
    )
    host: str = Field(default="0.0.0.0", description="HTTP mode: address to listen on.")
    port: int = Field(default=3000, description="HTTP mode: port to listen on.")
    log_level: str = Field(default="INFO", description="Python logging level.")
    log_format: Literal["text", "json"] = Field(
        default="text", description="Log lines as text, or as JSON objects (one per line) for log shippers."
    )
    max_new_tokens: int = Field(default=200, ge=1, description="Longest answer, in tokens.")
    compile_decoding: bool = Field(
        default=True,
        description="On a GPU, decode with fixed-size caches and a step compiled at start (minutes for an 8B "
        "model the first time, less from the compile cache).",
    )
    engine_url: str | None = Field(
        default=None,
        description="An OpenAI-compatible engine (vLLM with runtime LoRA, or `tunebot engine`) that answers "
        "instead of a model in this process: e.g. http://engine:8000.",
    )
    engine_model: str | None = Field(
        default=None,
        description="The name the engine serves the base model under; default: the first it lists.",
    )
    engine_max_lora_rank: int = Field(
        default=16,
        ge=1,
        description="The largest LoRA rank the engine loads (vLLM's --max-lora-rank, 16 unless set): with "
        "an engine, cycles train LoRA adapters within it (tuner/engine_limits.py).",
    )
    stream_update_seconds: float = Field(
        default=1.0, gt=0, description="How often a streaming answer's Slack message is edited."
    )
    notices_channel: str | None = Field(
        default=None,
        description="Channel id (C…) where tunebot announces promotions and rollbacks; none: no notices.",
    )
    slack_bot_token: str | None = Field(
        default=None, validation_alias=_env("SLACK_BOT_TOKEN"), description="xoxb- bot token."
    )
    slack_signing_secret: str | None = Field(
        default=None, validation_alias=_env("SLACK_SIGNING_SECRET"), description="HTTP mode."
    )
    slack_app_token: str | None = Field(
        default=None,
        validation_alias=_env("SLACK_APP_TOKEN"),
        description="xapp- token; when set, Socket Mode is used instead of HTTP.",
    )
    slack_client_id: str | None = Field(
        default=None,
        validation_alias=_env("SLACK_CLIENT_ID"),
        description="The app's client id: admins sign in to the review page (/review) with Slack.",
    )
    slack_client_secret: str | None = Field(
        default=None,
        validation_alias=_env("SLACK_CLIENT_SECRET"),
        description="The app's client secret, for Sign in with Slack (the review page).",
    )
    public_url: str | None = Field(
        default=None,
        description="Where people's browsers reach this server (https://tunebot.example.com): the review "
        "page's sign-in redirect is <public_url>/review/callback. Default: the address the request came to.",
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/",
        validation_alias=_env("SLACK_API_URL"),
        description="Slack Web API base URL (point it at any Slack-compatible server).",
    )

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'tunebot.db').resolve()}"

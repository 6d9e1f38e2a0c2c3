"""Expected failures of a `tunebot` command, said in a line or two an operator can act on.

A database that is down or refuses the user, a base model that is not there, a port in use, a full
disk, a Slack token Slack refuses: each is the set-up's problem, not tunebot's, so the command
prints what failed and what to change, and exits 1. `tunebot --debug` (or TUNEBOT_DEBUG=1) shows
the traceback instead. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
from typing import Any

import click


def operator_message(exc: BaseException) -> str | None:
    """What to tell the operator about `exc`, or None when it is not an expected failure."""
    for explain in (_database, _model, _hub, _disk, _slack):
        if message := explain(exc):
            return message
    return None


def _database(exc: BaseException) -> str | None:
    from sqlalchemy.exc import ArgumentError, InterfaceError, NoSuchModuleError, OperationalError

    if isinstance(exc, (ArgumentError, NoSuchModuleError)):
        return f"TUNEBOT_DATABASE_URL is not a database URL tunebot can use: {exc}"
    if not isinstance(exc, (OperationalError, InterfaceError)):
        return None
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = reason[0].removeprefix("connection failed: ") if reason else type(exc).__name__
    url = _database_url()
    return (
        f"cannot use the database {url}: {first}\n"
        "Check TUNEBOT_DATABASE_URL: the server must be running and accept that user and database."
    )


def _database_url() -> str:
    try:
        from sqlalchemy.engine import make_url

        from bot.settings import Settings

        return make_url(Settings().resolved_database_url).render_as_string(hide_password=True)
    except Exception:  # the URL itself may be what is wrong
        return "(TUNEBOT_DATABASE_URL)"


def _model(exc: BaseException) -> str | None:
    from tuner.base_model import BaseModelError
    from tuner.gpu_budget import BudgetTooSmall

    return str(exc) if isinstance(exc, (BaseModelError, BudgetTooSmall)) else None


def _hub(exc: BaseException) -> str | None:
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = constants.ENDPOINT
    if isinstance(exc, GatedRepoError):
        return f"the model is gated on {where}: accept its terms there, then set HF_TOKEN to your token"
    if isinstance(exc, RevisionNotFoundError):
        return f"no such revision on {where}: {str(exc).splitlines()[0]}"
    if isinstance(exc, RepositoryNotFoundError):
        return f"no such model on {where} (or it is private: set HF_TOKEN): {str(exc).splitlines()[0]}"
    if isinstance(exc, OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set: unset it to download"
    if isinstance(exc, LocalEntryNotFoundError):  # the hub unreachable and nothing pulled before
        cause = str(exc).splitlines()[0].removeprefix("Got: ")
        return f"cannot reach the model hub at {where} ({cause}): check the network, or HF_ENDPOINT"
    return None


def _disk(exc: BaseException) -> str | None:
    if not isinstance(exc, OSError) or exc.errno not in (errno.ENOSPC, errno.EACCES, errno.EROFS):
        return None
    where = exc.filename or "the data dir"
    if exc.errno == errno.ENOSPC:
        return f"no space left on the disk writing {where}: free some, or point TUNEBOT_DATA_DIR elsewhere"
    return f"cannot write {where} ({exc.strerror}): check TUNEBOT_DATA_DIR and who owns it"


def _slack(exc: BaseException) -> str | None:
    from slack_sdk.errors import SlackApiError

    # Bolt checks the token when the app is built and re-raises Slack's answer as a BoltError.
    exc = next((e for e in (exc, exc.__cause__, exc.__context__) if isinstance(e, SlackApiError)), exc)
    if not isinstance(exc, SlackApiError):
        return None
    response: Any = exc.response
    error = response.get("error", "an error") if response is not None else "an error"
    needed = response.get("needed") if response is not None else None
    hint = {
        "invalid_auth": "SLACK_BOT_TOKEN is not a valid token for this workspace (reinstall the app?)",
        "not_authed": "SLACK_BOT_TOKEN is empty",
        "account_inactive": "the app was uninstalled or its token revoked: reinstall it",
        "token_revoked": "the app was uninstalled or its token revoked: reinstall it",
        "missing_scope": f"add the scope {needed} to the app (app_manifest.yaml lists them) and reinstall it",
    }.get(error, "see Slack's documentation of that error")
    return f"Slack refused the call: {error}\n{hint}"


class OperatorErrors(click.Group):
    """A command group whose commands' expected failures end in a short message (module docstring)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            message = operator_message(exc)
            if message is None or ctx.meta.get("tunebot.debug"):
                raise
            raise click.ClickException(message) from exc

"""The `tunebot` command line."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from bot.cli_errors import OperatorErrors
from bot.logging_setup import quiet_libraries
from bot.progress import CliProgress, progress_option
from policies import PolicyError
from tuner.compile_cache import keep_compiled_code
from tuner.methods import METHODS
from tuner.offline import stay_offline


def _runtime(ctx: click.Context):  # type: ignore[no-untyped-def]
    """Built once per command, on first use (so `--help` never loads anything)."""
    if "runtime" not in ctx.meta:
        from bot.logging_setup import configure_logging
        from bot.runtime import Runtime
        from bot.settings import Settings

        settings = Settings()
        configure_logging(settings.log_level, settings.data_dir, settings.log_format)
        keep_compiled_code(settings.data_dir)  # before anything compiles
        try:
            ctx.meta["runtime"] = Runtime(settings)
        except PolicyError as exc:
            raise click.ClickException(str(exc)) from exc
    return ctx.meta["runtime"]


@click.group(cls=OperatorErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--debug",
    is_flag=True,
    envvar="TUNEBOT_DEBUG",
    help="Show the traceback of an expected failure (database down, model missing, port in use...) "
    "instead of a short message.",
)
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """tunebot: a Slack bot that fine-tunes itself from the feedback on its answers.

    Configuration comes from TUNEBOT_* environment variables (or .env) and the policy file.
    """
    ctx.meta["tunebot.debug"] = debug
    quiet_libraries()
    if ctx.invoked_subcommand != "model":  # `tunebot model pull` is the one command that downloads
        stay_offline()  # before any command imports the Hugging Face libraries


@main.command()
@click.option("--host", help="HTTP mode: address to listen on  [default: TUNEBOT_HOST, else 0.0.0.0]")
@click.option("--port", type=int, help="HTTP mode: port to listen on  [default: TUNEBOT_PORT, else 3000]")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run the bot and the scheduler (Socket Mode if SLACK_APP_TOKEN is set, else HTTP).

    A TUNEBOT_BASE_MODEL hub id that is not pulled yet is pulled first (as `tunebot model pull`
    does), unless HF_HUB_OFFLINE is set.
    """
    from bot.serve import ServeError
    from bot.serve import serve as run_server

    try:
        run_server(_runtime(ctx), host=host, port=port)
    except ServeError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on (vLLM's default).")
@click.pass_context
def engine(ctx: click.Context, host: str, port: int) -> None:
    """Serve the base model (and adapters loaded at runtime) over the OpenAI-compatible endpoints
    vLLM serves, for bots started with TUNEBOT_ENGINE_URL.

    Its name in /v1/models is TUNEBOT_BASE_MODEL's value; adapters are read from the paths the bots
    send (a volume both can reach).
    """
    import uvicorn

    from bot.serve import ServeError, check_port
    from tuner.engine_server import build_engine_app

    runtime = _runtime(ctx)
    try:
        check_port(host, port)
    except ServeError as exc:
        raise click.ClickException(str(exc)) from exc
    settings = runtime.settings
    model = runtime.local_model()
    click.echo(f"tunebot engine: {settings.base_model} on http://{host}:{port}/v1", err=True)
    uvicorn.run(build_engine_app(model, settings.base_model), host=host, port=port, log_level="warning")


@main.command()
@click.option("--port", default=3000, show_default=True, help="Port of the page (and the local Slack API).")
@click.option("--demo/--no-demo", default=True, show_default=True, help="Start with the demo workspace.")
@click.option(
    "--socket-mode",
    is_flag=True,
    help="Run the bot over Socket Mode (a WebSocket to the local Slack, as with SLACK_APP_TOKEN) "
    "instead of HTTP.",
)
@click.pass_context
def sandbox(ctx: click.Context, port: int, demo: bool, socket_mode: bool) -> None:
    """Try tunebot without Slack: the real bot, a local Slack and a web page to chat in.

    Binds 127.0.0.1 only. The page's user ("you") is a tunebot admin here, so `/tune run` and
    `/tune rollback` work. With --demo (the default) the example export in bot/demo/ is imported
    once and its channel is shown, so a first `/tune run` has data to learn from.
    """
    import signal
    import threading

    from bot.demo import EXPORT
    from bot.sandbox.app import Sandbox, demo_workspace, import_demo
    from bot.sandbox.web_api import Workspace
    from bot.serve import ServeError, pull_on_first_start

    runtime = _runtime(ctx)
    try:
        pull_on_first_start(runtime.settings.base_model, runtime.settings.data_dir)
    except ServeError as exc:
        raise click.ClickException(str(exc)) from exc
    workspace = demo_workspace(EXPORT) if demo else Workspace()
    try:
        running = Sandbox(runtime, port=port, workspace=workspace, socket_mode=socket_mode)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); try --port") from exc
    # Promotions and rollbacks are announced in the first channel unless TUNEBOT_NOTICES_CHANNEL says.
    running.notices_channel = runtime.settings.notices_channel or next(iter(workspace.channels))
    if demo:
        import_demo(runtime, EXPORT, click.echo)
    click.echo("loading the model …")
    running.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # before saying it runs: a stop may follow at once
    click.echo(f"the review page (for admins; you are one here): {running.bot_url}/review/")
    click.echo(f"tunebot sandbox is running: open {running.url}  (Ctrl-C stops it)")
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        click.echo("stopping …")
        running.stop()


@main.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--bot-user", multiple=True, help="User id of the bot in the export (repeatable).")
@progress_option("a bar of each channel's threads", "a line per channel")
@click.pass_context
def import_(ctx: click.Context, path: Path, bot_user: tuple[str, ...], progress: str) -> None:
    """Import a Slack workspace export (zip or folder) as scrubbed exchanges and feedback."""
    from bot.services.chat import ExchangeRecorder
    from bot.services.feedback import FeedbackService
    from bot.services.words import WordsService
    from bot.slack_import import ExportError, import_export

    runtime = _runtime(ctx)
    click.echo(f"importing {path} …")
    WordsService(runtime.db, runtime.scrubber.workspace).refresh()  # /tune words keep|scrub apply here too
    out = CliProgress(progress)
    try:
        report = import_export(
            path,
            ExchangeRecorder(runtime.db, runtime.scrubber),
            FeedbackService(runtime.db, runtime.scrubber, runtime.policies.feedback),
            bot_users=list(bot_user),
            progress=out.say,
            on_thread=lambda channel, done, total: out.advance(f"#{channel}", done, total),
            workspace=runtime.scrubber.workspace,
        )
    except ExportError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        out.close()
    feedback = ", ".join(f"{n} {k}" for k, n in sorted(report.feedback.items())) or "none"
    click.echo(
        f"imported {report.exchanges} exchanges from {report.messages} messages in "
        f"{report.channels} channel(s); feedback: {feedback}; "
        f"{runtime.scrubber.workspace.members} member(s) known from users.json"
    )
    for skipped in report.skipped_files:
        click.echo(f"skipped: {skipped}", err=True)


@main.command()
@click.option("--now", is_flag=True, help="Run even if too few new examples arrived since the last cycle.")
@progress_option("a bar of the training steps", "a line per step")
@click.option(
    "--method",
    type=click.Choice(list(METHODS)),
    help="Train with this method for this run only (default: the policy's training.method).",
)
@click.pass_context
def tune(ctx: click.Context, now: bool, progress: str, method: str | None) -> None:
    """Run one tune cycle: snapshot, train, evaluate, promote if it wins."""
    runtime = _runtime(ctx)
    out = CliProgress(progress)

    def step(done: int, total: int, loss: float) -> None:
        out.advance("training", done, total, f"  step {done}/{total}  loss {loss:.4f}", loss=f"{loss:.4f}")

    try:
        result = runtime.cycle.run("cli", force=now, method=method, progress=out.say, on_step=step)
    finally:
        out.close()
    click.echo(
        f"decision: {result.outcome}" + (f" {result.adapter_version}" if result.adapter_version else "")
    )
    if result.outcome in ("failed", "busy"):
        sys.exit(1)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """The live adapter, the dataset and the last and next cycle."""
    from bot.views import status_text
    from tuner.status import tune_status

    runtime = _runtime(ctx)
    state = tune_status(runtime.db, runtime.policies)
    if as_json:
        click.echo(json.dumps(state, indent=2))
    else:
        click.echo(status_text(state).replace("*", ""))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def history(ctx: click.Context, as_json: bool) -> None:
    """Recent adapters, their scores and decisions, and the audit trail (promotions, rollbacks,
    erasures, pauses, policy changes: who and why)."""
    from bot.views import history_text
    from tuner.status import tune_status

    state = tune_status(_runtime(ctx).db, _runtime(ctx).policies)
    if as_json:
        click.echo(json.dumps({"adapters": state["adapters"], "events": state["events"]}, indent=2))
    else:
        click.echo(history_text(state).replace("*", ""))


@main.command()
@click.argument("version")
@click.pass_context
def approve(ctx: click.Context, version: str) -> None:
    """Let VERSION, a candidate held by promotion.require_approval, go live."""
    from bot.services.tune import approve as approve_version

    runtime = _runtime(ctx)
    result = approve_version(runtime.db, "cli", version, runtime.engine_max_lora_rank)
    if not result.ok:
        raise click.ClickException(result.message)
    click.echo(result.message)


@main.command()
@click.option("--to", "to_version", help="Adapter version to restore (default: the previous one).")
@click.pass_context
def rollback(ctx: click.Context, to_version: str | None) -> None:
    """Take the live adapter down and serve the previous one (or --to VERSION)."""
    from bot.services.tune import roll_back

    runtime = _runtime(ctx)
    result = roll_back(runtime.db, "cli", to_version, runtime.engine_max_lora_rank)
    if not result.ok:
        raise click.ClickException(result.message)
    click.echo(result.message)


@main.command()
@click.pass_context
def pause(ctx: click.Context) -> None:
    """Pause scheduled tune cycles for every replica (`tunebot tune` still runs one)."""
    from bot.services.tune import set_paused

    click.echo(set_paused(_runtime(ctx).db, "cli", paused=True).replace("`/tune run`", "`tunebot tune`"))


@main.command()
@click.pass_context
def resume(ctx: click.Context) -> None:
    """Resume scheduled tune cycles."""
    from bot.services.tune import set_paused

    click.echo(set_paused(_runtime(ctx).db, "cli", paused=False))


@main.command()
@click.option("--user", "user_id", required=True, help="Slack user id (U…) whose data to erase.")
@click.pass_context
def forget(ctx: click.Context, user_id: str) -> None:
    """Erase a user's exchanges and feedback; adapters trained on them never serve again.

    The live adapter, if it learned from them, is rolled back at once, or with the policy's
    privacy.on_erasure: retrain, replaced by the next tune cycle.
    """
    from bot.services.tune import describe_erasure, forget_and_report

    if not user_id.strip() or user_id[0] not in "UW":
        raise click.BadParameter("expected a Slack user id such as U024BE7LH", param_hint="--user")
    runtime = _runtime(ctx)
    report, rolled = forget_and_report(
        runtime.db, user_id.strip(), "cli", runtime.policies.privacy.on_erasure, runtime.engine_max_lora_rank
    )
    click.echo(describe_erasure(report, rolled).replace(f"<@{user_id}>", user_id))
    if report.adapters:
        click.echo("the next tune cycle trains a clean adapter (tunebot tune --now to run it now)")


@main.command()
@click.argument("questions", nargs=-1, required=True)
@click.option("--adapter", default="live", show_default=True, help="live, base, or a version (v3).")
@click.option(
    "--memory/--no-memory",
    default=None,
    help="Give the model the team's answers to close questions (answer memory), as the bot does. "
    "Default: the policy's memory.enabled.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='One JSON line per question: {"question", "adapter", "answer", "recalled"}.',
)
@click.pass_context
def ask(
    ctx: click.Context, questions: tuple[str, ...], adapter: str, memory: bool | None, as_json: bool
) -> None:
    """Answers from the model, no Slack: each QUESTION on its own (the model loads once)."""
    from storage.registry import RegistryError, get_adapter, live_adapter
    from tuner.live_model import LiveModel
    from tuner.memory import answer_with

    runtime = _runtime(ctx)
    if any(not question.strip() for question in questions):
        raise click.BadParameter("a question is empty", param_hint="QUESTIONS")
    try:
        with runtime.db.session() as session:
            chosen = (
                live_adapter(session)
                if adapter == "live"
                else (None if adapter == "base" else get_adapter(session, adapter))
            )
            path, label = (chosen.path, chosen.label) if chosen else (None, "base")
    except RegistryError as exc:
        raise click.ClickException(str(exc)) from exc
    # A few questions: compiling the decoding step (minutes for an 8B model) would not pay off.
    model = LiveModel(
        runtime.base_model_path, max_new_tokens=runtime.settings.max_new_tokens, static_cache=False
    )
    model.swap(path, label)
    use_memory = runtime.policies.memory.enabled if memory is None else memory
    for question in questions:
        turns = [{"role": "user", "content": question}]
        recalled = runtime.memory.recall(question) if use_memory else []
        answer = answer_with(model, turns, recalled, runtime.policies.memory)
        if as_json:
            record = {
                "question": question,
                "adapter": answer.adapter_version,
                "answer": answer.text,
                "recalled": len(recalled),
            }
            click.echo(json.dumps(record, ensure_ascii=False))
        else:
            drew = (
                f" (drew on {len(recalled)} team answer{'s' if len(recalled) > 1 else ''})"
                if recalled
                else ""
            )
            click.echo(f"[{answer.adapter_version}] {answer.text}{drew}")


@main.command()
@click.option(
    "--explain",
    is_flag=True,
    help='Add "findings" to each line: every value found, what found it (recognizer, score), '
    "and whether it was replaced, and why or why not.",
)
@click.option(
    "--users",
    "users_file",
    type=click.Path(exists=True, dir_okay=True, path_type=Path),
    help="The workspace's member list: an export's users.json (or the export's folder or zip), "
    "as `tunebot import` reads it. Members' names are scrubbed anywhere; other words only on strong "
    "evidence that they name a person.",
)
@click.pass_context
def scrub(ctx: click.Context, explain: bool, users_file: Path | None) -> None:
    """Scrub JSON lines {"text": ...} from stdin to stdout.

    Consecutive lines with the same "conversation" value share placeholder numbers (<PERSON_1> is
    the same person in each); other lines are numbered on their own. Lines are scrubbed in batches.
    """
    from bot.settings import Settings
    from bot.slack_import import ExportError, export_members
    from policies import load_policies
    from policies.privacy import Scrubber

    try:
        scrubber = Scrubber(load_policies(Settings().policy_file).privacy)
        if users_file is not None:
            scrubber.workspace.set_members(export_members(users_file))
    except (PolicyError, ExportError) as exc:
        raise click.ClickException(str(exc)) from exc
    batch: list[list[dict[str, Any]]] = []  # conversations of records

    def flush() -> None:
        texts = [[record["text"] for record in conversation] for conversation in batch]
        for conversation, scrubbed in zip(batch, scrubber.scrub_conversations(texts), strict=True):
            for record, text in zip(conversation, scrubbed, strict=True):
                out = {**record, "text": text}
                if explain:
                    out["findings"] = [asdict(e) for e in scrubber.explain(record["text"])]
                click.echo(json.dumps(out, ensure_ascii=False))
        batch.clear()

    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record["text"], str):
                raise TypeError
        except (json.JSONDecodeError, KeyError, TypeError):
            click.echo(f'line {number}: expected a JSON object with a "text" string', err=True)
            sys.exit(2)
        key = record.get("conversation")
        if batch and key is not None and batch[-1][0].get("conversation") == key:
            batch[-1].append(record)
            continue
        if sum(len(c) for c in batch) >= 256:
            flush()
        batch.append([record])
    flush()


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def doctor(as_json: bool) -> None:
    """Check the set-up without starting the bot: policy, data dir, database, base model (and its
    memory on this GPU), Slack token and scopes, scheduler. Exits 1 if a check fails."""
    from bot.doctor import run_checks, table
    from bot.settings import Settings

    checks = run_checks(Settings())
    if as_json:
        click.echo(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        click.echo(table(checks))
    if any(c.ok is False for c in checks):
        sys.exit(1)


@main.group()
@click.pass_context
def model(ctx: click.Context) -> None:
    """Base models from the Hugging Face Hub, kept in the data dir."""
    if ctx.invoked_subcommand != "pull":
        stay_offline()


@model.command("pull")
@click.argument("hub_id")
@click.option("--revision", help="A branch, tag or commit (default: main).")
def model_pull(hub_id: str, revision: str | None) -> None:
    """Download HUB_ID (e.g. Qwen/Qwen2.5-1.5B-Instruct) into the data dir, with a progress bar.

    An interrupted pull resumes where it stopped. HF_TOKEN is sent (gated models need it);
    HF_ENDPOINT points at a mirror. Then run with TUNEBOT_BASE_MODEL=HUB_ID.
    """
    import os

    from bot.settings import Settings
    from tuner.base_model import pull

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):  # huggingface_hub reads both
        if os.environ.get(name, "").lower() in ("1", "true", "yes", "on"):
            raise click.ClickException(f"{name} is set: unset it to let `tunebot model pull` download")
    click.echo(f"pulling {hub_id}" + (f" at {revision}" if revision else "") + " …")
    folder = pull(hub_id, Settings().data_dir, revision)
    click.echo(f"{hub_id}: {_gib(folder):.2f} GiB in {folder}\nuse it with TUNEBOT_BASE_MODEL={hub_id}")


@model.command("list")
def model_list() -> None:
    """The models in the data dir: pulled hub models (revisions, size) and the converted bundled one."""
    from huggingface_hub import scan_cache_dir

    from bot.settings import Settings
    from tuner.base_model import hub_cache

    data_dir = Settings().data_dir
    rows = []
    if hub_cache(data_dir).exists():
        for repo in sorted(scan_cache_dir(hub_cache(data_dir)).repos, key=lambda r: r.repo_id):
            revisions = ", ".join(sorted(r.commit_hash[:8] for r in repo.revisions))
            rows.append(f"{repo.repo_id}  {repo.size_on_disk / 2**30:.2f} GiB  (revision {revisions})")
    bundled = data_dir / "models" / "smollm2-135m-instruct"
    if bundled.exists():
        rows.append(f"smollm2 (bundled, converted)  {_gib(bundled):.2f} GiB")
    click.echo(
        "\n".join(rows) if rows else f"no models in {data_dir / 'models'} yet (tunebot model pull HUB_ID)"
    )


def _gib(folder: Path) -> float:
    """What a folder holds, in GiB (a hub snapshot's files are links: resolved, as stat does)."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**30


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply all migrations (also done automatically on start)."""
    database = _runtime(ctx).db  # building it applies the migrations
    click.echo(f"database is up to date: {database.engine.url.render_as_string(hide_password=True)}")


@main.group()
def dataset() -> None:
    """The training dataset."""


@dataset.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def dataset_export(ctx: click.Context, path: Path) -> None:
    """Write the current training snapshot as chat-format JSONL."""
    from storage.exchanges import training_examples
    from tuner.dataset import build_snapshot, export_jsonl

    runtime = _runtime(ctx)
    with runtime.db.session() as session:
        examples = training_examples(session, runtime.policies.feedback)
    snapshot = build_snapshot(
        examples, runtime.policies.training.heldout_percent, runtime.policies.privacy.secret_answers
    )
    rows = export_jsonl(snapshot, path)
    click.echo(f"wrote {rows} examples to {path} (dataset {snapshot.fingerprint})")


if __name__ == "__main__":
    main()

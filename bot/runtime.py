"""The composition root: builds settings, database, policies, scrubber, live model and cycle once.

Everything is created on first use, so `tunebot status` never loads a model and `tunebot scrub`
never opens the database. Nothing here runs at import time.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from bot.settings import Settings
from policies import Policies, load_policies
from storage import Database
from storage.audit import note_policy
from storage.deliveries import first_delivery
from storage.exchanges import InGroup, training_examples
from storage.registry import live_adapter
from tuner.base_model import resolve_base_model

# The services, the model and the cycle import Presidio, spaCy and torch (seconds): imported where
# first used, so `tunebot status` or `tunebot doctor` answer at once.
if TYPE_CHECKING:
    from bot.metrics import Metrics
    from bot.services.registry import Services
    from policies.privacy import Scrubber
    from tuner.cycle import TuneCycle
    from tuner.engine_client import EngineModel
    from tuner.gpu_budget import GpuPlan
    from tuner.live_model import LiveModel
    from tuner.memory import AnswerMemory
    from tuner.scheduler import TuneScheduler

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: Settings, policies: Policies | None = None):
        self.settings = settings
        self.policies = policies or load_policies(settings.policy_file)
        self._configured = self.policies  # as configured, before any in-process override (sandbox)
        self.data_dir: Path = settings.data_dir.resolve()

    @cached_property
    def db(self) -> Database:
        database = Database(self.settings.resolved_database_url)
        database.upgrade()
        with database.session() as session:  # a changed policy file is an audit event
            note_policy(
                session,
                self._configured.model_dump(mode="json"),
                actor=_whoami(),
                source=str(self.settings.policy_file or "built-in defaults"),
            )
        return database

    @cached_property
    def scrubber(self) -> Scrubber:
        from policies.privacy import Scrubber  # Presidio + spaCy: only for commands that scrub

        return Scrubber(self.policies.privacy)

    @cached_property
    def base_model_path(self) -> str:
        return resolve_base_model(self.settings.base_model, self.data_dir)

    @cached_property
    def live_model(self) -> LiveModel | EngineModel:
        """What answers: the model in this process, or (TUNEBOT_ENGINE_URL) a serving engine."""
        if self.settings.engine_url:
            from tuner.engine_client import EngineModel, EngineUnavailable

            engine = EngineModel(
                self.settings.engine_url, self.settings.engine_model, self.settings.max_new_tokens
            )
            try:
                self.sync_live_model(engine)
            except EngineUnavailable as exc:  # the registry follower tries again every poll
                log.warning("%s; answers wait for the engine", exc)
            return engine
        model = self.local_model()
        self.sync_live_model(model)
        return model

    @cached_property
    def gpu_plan(self) -> GpuPlan | None:
        """How the bot and the training child share the GPU (None on a CPU); BudgetTooSmall when
        the model cannot do both within gpu.memory_budget_gib."""
        from transformers import AutoConfig

        from tuner.gpu_budget import plan_for_model, serving_choices

        config = AutoConfig.from_pretrained(self.base_model_path)
        gpu, method = self.policies.gpu, self.policies.training.method
        precisions = serving_choices(gpu.serving_weights, method)
        return plan_for_model(config, gpu.memory_budget_gib, weights=precisions)

    def local_model(self) -> LiveModel:
        """The model in this process (`tunebot serve`, `tunebot engine`), on a GPU within its share
        of the plan: precision, caches and batch as planned, and (a budget set) its allocator capped there;
        its answering flag named in the environment, so that with `gpu.answers_first` (read at each
        cycle) the training children started from here pause for its prompts."""
        from tuner.answers_first import AnsweringFlag
        from tuner.gpu_budget import cap_process
        from tuner.live_model import LiveModel

        plan = self.gpu_plan
        if plan is not None and self.policies.gpu.memory_budget_gib is not None:
            cap_process(plan.share(plan.serving))
        return LiveModel(
            self.base_model_path,
            max_new_tokens=self.settings.max_new_tokens,
            static_cache=None if self.settings.compile_decoding else False,
            max_batch=plan.max_batch if plan else 8,
            cache_tokens=plan.cache_tokens if plan else None,
            weights=plan.weights if plan else "bf16",  # on a CPU: float32
            # Named in this process's environment: the training children its cycles start wait for it
            # while the policy says so (a cycle with it off drops the name), so a reload can turn it on.
            answering=AnsweringFlag.create(),
        )

    def sync_live_model(self, model: LiveModel | EngineModel | None = None) -> None:
        """Make the model serve whatever the registry says is live (a no-op when it already does)."""
        model = model or self.live_model
        with self.db.session() as session:
            live = live_adapter(session)
            path, version = (live.path, live.label) if live else (None, "base")
        model.swap(path, version)

    def first_delivery(self, event_id: str) -> bool:
        """Whether this Slack event id is new to every replica (it is recorded if so)."""
        return first_delivery(self.db, event_id)

    def follow_registry(self) -> None:
        """Scheduler job: pick up promotions and rollbacks made by other processes (CLI, replicas)."""
        try:
            self.sync_live_model()
        except Exception:
            log.exception("could not follow the registry; still serving %s", self.live_model.version)

    @cached_property
    def in_group(self) -> InGroup | None:
        """Slack user group membership (trusted raters and admins given as S… ids), when a bot token
        lets us read it; without one only user ids count."""
        if not self.settings.slack_bot_token:
            return None
        from slack_sdk import WebClient

        from bot.services.user_groups import UserGroups

        client = WebClient(token=self.settings.slack_bot_token, base_url=self.settings.slack_api_url)
        return UserGroups(client).contains

    @cached_property
    def cycle(self) -> TuneCycle:
        from tuner.cycle import TuneCycle

        cycle = TuneCycle(
            self.db,
            self.policies,
            data_dir=self.data_dir,
            base_model=self.base_model_path,
            on_live_change=self._on_live_change,
            in_group=self.in_group,
            engine_max_lora_rank=self.engine_max_lora_rank,
        )
        cycle.finished = self.metrics.observe_cycle
        return cycle

    @property
    def engine_max_lora_rank(self) -> int | None:
        """The largest LoRA rank the serving engine loads (TUNEBOT_ENGINE_URL; None without one: a
        model in this process serves any adapter)."""
        return self.settings.engine_max_lora_rank if self.settings.engine_url else None

    def engine_problem(self) -> str | None:
        """With TUNEBOT_ENGINE_URL and training on: why the policy's cycles would train adapters
        the engine cannot load (tuner/engine_limits.py), else None."""
        limit = self.engine_max_lora_rank
        if limit is None or not self.policies.training.enabled:
            return None
        from tuner.engine_limits import training_problem

        return training_problem(self.policies.training.method, self.policies.training.lora, limit)

    def _on_live_change(self, adapter_path: str | None, version: str) -> None:
        # Only swap a model this process actually loaded; CLI runs have none.
        if "live_model" in self.__dict__:
            self.live_model.swap(adapter_path, version)

    @cached_property
    def memory(self) -> AnswerMemory:
        from tuner.memory import AnswerMemory

        return AnswerMemory(self.db, self.policies, self.in_group)

    @cached_property
    def metrics(self) -> Metrics:
        from bot.metrics import Metrics

        metrics = Metrics()
        metrics.watch_state(lambda: self.live_model.version, self._dataset_size)
        return metrics

    def _dataset_size(self) -> int:
        with self.db.session() as session:
            return len(training_examples(session, self.policies.feedback, self.in_group))

    def services(self, scheduler: TuneScheduler | None = None) -> Services:
        from bot.services.assistant import AssistantService
        from bot.services.chat import ChatService, ExchangeRecorder
        from bot.services.feedback import FeedbackService
        from bot.services.registry import Services
        from bot.services.tune import TuneService
        from bot.services.words import WordsService

        recorder = ExchangeRecorder(self.db, self.scrubber)
        return Services(
            chat=ChatService(
                self.live_model,
                recorder,
                self.metrics,
                self.settings.stream_update_seconds,
                memory=self.memory,
            ),
            feedback=FeedbackService(self.db, self.scrubber, self.policies.feedback, self.metrics),
            tune=TuneService(self.db, self.policies, self.cycle, lambda: self.sync_live_model(), scheduler),
            words=WordsService(self.db, self.scrubber.workspace),
            assistant=AssistantService(self.db, self.policies.assistant),
        )


def _whoami() -> str:
    """user@host of this process, for audit events (a container's uid may have no name)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"[:64]

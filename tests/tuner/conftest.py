"""Tune cycles train a real (tiny) model, so these tests run on SQLite only to keep the suite short.
The database side of cycles (lock, runs, registry, audit) runs on both backends in tests/storage,
and whole cycles on PostgreSQL in the end-to-end tests (`/tune run`) and tests/bot/test_replicas.py."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tunebot.db'}"


@pytest.fixture(scope="session")
def babbler(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny model that answers each prompt with different words (not the same newlines)."""
    from tests.factories import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("babbler"), initializer_range=0.5)

from __future__ import annotations

from pathlib import Path

import pytest

from policies import DEFAULT_POLICY_FILE, Policies, PolicyError, load_policies


def policy_error(path: Path) -> str:
    with pytest.raises(PolicyError) as error:
        load_policies(path)
    return str(error.value)


def test_bundled_file_states_exactly_the_schema_defaults() -> None:
    assert load_policies(DEFAULT_POLICY_FILE) == Policies()


def test_typo_names_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("training:\n  learning_rat: 0.1\n")
    with pytest.raises(PolicyError) as error:
        load_policies(path)
    assert str(path) in str(error.value)
    assert "training.learning_rat: unknown field" in str(error.value)


def test_bad_value_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("promotion:\n  min_heldout_examples: 0\naccess:\n  commands: {rollback: root}\n")
    message = policy_error(path)
    assert "promotion.min_heldout_examples" in message and "access.commands.rollback" in message


def test_schedule_needs_exactly_one_trigger(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("training:\n  schedule: {interval_minutes: 30}\n")  # cron still defaulted
    assert "exactly one of interval_minutes or cron" in policy_error(path)


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("feedback:\n  approve_reactions: [+1\n")
    assert f"{path}:" in (policy_error(path))


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    assert "cannot read" in (policy_error(tmp_path / "nope.yaml"))
    path = tmp_path / "list.yaml"
    path.write_text("- a\n")
    assert "must be a mapping" in (policy_error(path))

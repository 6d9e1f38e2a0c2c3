"""The README, the CLI and the policy file say what the code does."""

from __future__ import annotations

from pathlib import Path

from bot.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_documents_every_setting() -> None:
    for name, field in Settings.model_fields.items():
        aliases = getattr(field.validation_alias, "choices", None)
        env_name = aliases[0] if aliases else f"TUNEBOT_{name.upper()}"
        assert f"`{env_name}`" in README, env_name


def test_readme_lists_every_cli_command() -> None:
    from bot.cli import main

    for command in main.commands:
        assert f"`tunebot {command}" in README, command


def test_manifest_declares_what_the_listeners_use() -> None:
    import yaml

    from bot.views import CORRECT_SHORTCUT

    manifest = yaml.safe_load((Path(__file__).resolve().parents[1] / "app_manifest.yaml").read_text())
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_mention", "reaction_added", "reaction_removed", "message.im", "app_home_opened"} <= events
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/tune"]
    assert manifest["features"]["shortcuts"][0]["callback_id"] == CORRECT_SHORTCUT
    # users.list and conversations.list: the scrubber's member list and channel names
    assert {"users:read", "channels:read"} <= set(manifest["oauth_config"]["scopes"]["bot"])
    # the assistant pane: its events, its scope, the feature itself
    assert {"assistant_thread_started", "assistant_thread_context_changed"} <= events
    assert "assistant:write" in manifest["oauth_config"]["scopes"]["bot"]
    assert manifest["features"]["assistant_view"]["assistant_description"]
    # the review page's Sign in with Slack: the scopes it asks for, and its callback
    from bot.review.signin import SCOPES

    assert set(SCOPES) <= set(manifest["oauth_config"]["scopes"]["user"])
    assert all(u.endswith("/review/callback") for u in manifest["oauth_config"]["redirect_urls"])

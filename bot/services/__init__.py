"""What listeners and CLI commands call: chat, feedback and tuning, with no Slack types inside."""

"""The Slack side of tunebot: the Bolt app and its listeners, the composition root and the CLI."""

"""A local Slack-compatible server: the Web API methods tunebot calls, recorded, plus response URLs."""

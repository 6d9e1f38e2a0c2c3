"""A local Slack: the Web API methods tunebot calls (recorded), response URLs, signed delivery of
events, commands and interactivity, and the sandbox's web page (`tunebot sandbox`)."""

"""A small example Slack export about a fictional company, for the offline demo and the tests."""

"""Bolt listeners: parse the Slack payload, call a service, render a view. Nothing more."""

from bot.listeners import assistant, commands, corrections, home, messages, reactions

MODULES = (assistant, messages, reactions, corrections, commands, home)

__all__ = ["MODULES"]

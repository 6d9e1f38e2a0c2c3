"""Bolt listeners: parse the Slack payload, call a service, render a view. Nothing more."""

from bot.listeners import commands, corrections, messages, reactions

MODULES = (messages, reactions, corrections, commands)

__all__ = ["MODULES"]

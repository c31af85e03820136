"""Placeholder until the server group lands."""

COMMANDS: list = []

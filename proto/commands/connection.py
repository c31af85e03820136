"""Placeholder until the connection group lands."""

COMMANDS: list = []

"""Placeholder until the sets group lands."""

COMMANDS: list = []

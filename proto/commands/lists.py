"""Placeholder until the lists group lands."""

COMMANDS: list = []

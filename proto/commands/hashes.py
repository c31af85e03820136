"""Placeholder until the hashes group lands."""

COMMANDS: list = []

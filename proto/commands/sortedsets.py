"""Placeholder until the sortedsets group lands."""

COMMANDS: list = []

"""Placeholder until the keyspace group lands."""

COMMANDS: list = []

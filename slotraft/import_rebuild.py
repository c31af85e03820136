"""Writing a value too large for one RESTORE (past the nodes' max-command-work): the
payload is decoded here and the value written with its type's commands, in chunks that
each fit (DEL, then SET, RPUSH, SADD, HSET or ZADD, then its expiry). Not atomic: a
reader may see the key half-written while it is copied, which an import allows."""

from __future__ import annotations

from typing import Any

import redis

from proto.rdb import values

CHUNK = 500  # elements per command: far below max-command-work


def _chunks(items: list[Any]) -> list[list[Any]]:
    return [items[start : start + CHUNK] for start in range(0, len(items), CHUNK)]


def rebuild(
    target: redis.Redis, key: bytes, ttl: int, payload: bytes, absolute: bool, replace: bool
) -> str | None:
    """Write the payload's value under `key`; None when done, else why not (the key
    exists and `replace` is off, or a command's error). FormatError if unreadable."""
    decoded = values.read_payload(payload)
    if not replace and target.exists(key):
        return "exists on the target (--replace overwrites)"
    pipe = target.pipeline(transaction=False)
    pipe.delete(key)
    kind, items = decoded.kind, decoded.items
    if kind == b"string":
        pipe.set(key, items)
    elif kind == b"list":
        for chunk in _chunks(items):
            pipe.rpush(key, *chunk)
    elif kind == b"set":
        for chunk in _chunks(items):
            pipe.sadd(key, *chunk)
    elif kind == b"hash":
        for chunk in _chunks(items):
            pipe.execute_command("HSET", key, *[part for pair in chunk for part in pair])
    else:
        for chunk in _chunks(items):
            flat = [part for member, score in chunk for part in (repr(score), member)]
            pipe.execute_command("ZADD", key, *flat)
    if ttl:
        pipe.execute_command("PEXPIREAT" if absolute else "PEXPIRE", key, ttl)
    for reply in pipe.execute(raise_on_error=False):
        if isinstance(reply, Exception):
            return f"rebuilding with commands: {reply}"
    return None

"""Commands that recreate one key elsewhere, read through commands of the source itself
(the engine, or the cluster through a router)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from node.engine.engine import Engine

Run = Callable[..., Any]


def engine_reader(engine: Engine) -> Run:
    rng = random.Random(0)

    def run(*args: bytes) -> Any:
        return engine.execute_readonly(list(args), int(time.time() * 1000), rng)

    return run


def left_as_is(run: Run, key: bytes) -> bool:
    """Keys a resync leaves alone: streams, which no command with a random effect changes
    and whose consumer groups and deletion history commands could not recreate exactly."""
    kind = run(b"TYPE", key)
    return isinstance(kind, bytes | bytearray) and bytes(kind) == b"stream"


def rebuild_commands(run: Run, key: bytes) -> list[list[bytes]]:
    kind = run(b"TYPE", key)
    if isinstance(kind, bytes | bytearray):
        kind = bytes(kind)
    if kind == b"none":
        return []
    if kind == b"string":
        commands = [[b"SET", key, run(b"GET", key)]]
    elif kind == b"hash":
        flat = run(b"HGETALL", key)
        if isinstance(flat, dict):
            flat = [item for pair in flat.items() for item in pair]
        commands = [[b"HSET", key, *flat]]
    elif kind == b"list":
        commands = [[b"RPUSH", key, *run(b"LRANGE", key, b"0", b"-1")]]
    elif kind == b"set":
        commands = [[b"SADD", key, *run(b"SMEMBERS", key)]]
    elif kind == b"zset":
        reply = run(b"ZRANGE", key, b"0", b"-1", b"WITHSCORES")
        if reply and isinstance(reply[0], list):  # RESP3 nests [member, score] pairs
            members = [(member, score) for member, score in reply]
        else:
            members = list(zip(reply[0::2], reply[1::2]))
        pairs = []
        for member, score in members:
            pairs += [repr(float(score)).encode(), member]
        commands = [[b"ZADD", key, *pairs]]
    else:
        raise AssertionError(f"unknown type {kind!r}")
    expire_at = run(b"PEXPIRETIME", key)
    if isinstance(expire_at, int) and expire_at > 0:
        commands.append([b"PEXPIREAT", key, b"%d" % expire_at])
    return commands

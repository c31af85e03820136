"""Commands that recreate one engine key in redis, read through the engine's own commands."""

from __future__ import annotations

import random
import time

from node.engine.engine import Engine


def rebuild_commands(engine: Engine, key: bytes) -> list[list[bytes]]:
    now = int(time.time() * 1000)
    rng = random.Random(0)

    def run(*args: bytes) -> object:
        return engine.execute_readonly(list(args), now, rng)

    kind = run(b"TYPE", key)
    if kind == b"none":
        return []
    if kind == b"string":
        commands = [[b"SET", key, run(b"GET", key)]]
    elif kind == b"hash":
        commands = [[b"HSET", key, *run(b"HGETALL", key)]]
    elif kind == b"list":
        commands = [[b"RPUSH", key, *run(b"LRANGE", key, b"0", b"-1")]]
    elif kind == b"set":
        commands = [[b"SADD", key, *run(b"SMEMBERS", key)]]
    elif kind == b"zset":
        flat = run(b"ZRANGE", key, b"0", b"-1", b"WITHSCORES")
        pairs = []
        for index in range(0, len(flat), 2):
            pairs += [repr(float(flat[index + 1])).encode(), flat[index]]
        commands = [[b"ZADD", key, *pairs]]
    else:
        raise AssertionError(f"unknown type {kind!r}")
    expire_at = run(b"PEXPIRETIME", key)
    if isinstance(expire_at, int) and expire_at > 0:
        commands.append([b"PEXPIREAT", key, b"%d" % expire_at])
    return commands

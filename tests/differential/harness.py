"""Run the same commands against the engine and a real redis-server and compare replies.

Both replies go through the same hiredis parser: the engine's typed reply is encoded with
proto.resp (so the encoder is tested too) and parsed back. The engine's clock is the wall
clock at each command, like the server's; replies that carry a remaining TTL are compared
with a tolerance. Redis runs with active expiry off so that, like the engine, it removes
expired keys only when they are touched.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import hiredis

from node.engine.config import EngineConfig
from node.engine.engine import Engine
from proto import resp

Args = list[bytes]


def _parse(raw: bytes) -> Any:
    reader = hiredis.Reader()
    reader.feed(raw)
    reply = reader.gets()
    assert reader.gets() is False, "one reply expected"
    return _plain(reply)


def _plain(reply: Any) -> Any:
    """Turn hiredis objects into comparable values (errors become ('ERR', text))."""
    if isinstance(reply, hiredis.ReplyError):
        return ("error", str(reply))
    if isinstance(reply, list):
        return [_plain(item) for item in reply]
    if isinstance(reply, dict):
        return {_freeze(_plain(k)): _plain(v) for k, v in reply.items()}
    return reply


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(item) for item in value)
    return value


class RawRedis:
    """A minimal connection that returns exactly what the server sent, parsed by hiredis."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.reader = hiredis.Reader()

    def call(self, args: Iterable[bytes]) -> Any:
        self.sock.sendall(_pack(list(args)))
        while True:
            reply = self.reader.gets()
            if reply is not False:
                return _plain(reply)
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("redis closed the connection")
            self.reader.feed(data)

    def close(self) -> None:
        self.sock.close()


def _pack(args: Args) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


def normalize_unordered(reply: Any) -> Any:
    """For commands whose reply order is unspecified (SMEMBERS, KEYS, HGETALL, ...)."""
    if isinstance(reply, list):
        return sorted((_freeze(item) for item in reply), key=repr)
    return reply


def normalize_pairs_unordered(reply: Any) -> Any:
    """For flat [field, value, ...] replies in unspecified order (HGETALL in RESP2)."""
    if isinstance(reply, list) and len(reply) % 2 == 0:
        pairs = [(_freeze(reply[i]), _freeze(reply[i + 1])) for i in range(0, len(reply), 2)]
        return sorted(pairs, key=repr)
    return normalize_unordered(reply)


def close_to(tolerance: int) -> Callable[[Any], Any]:
    """For TTL-like integer replies: round to the tolerance so 1 ms of drift compares equal."""

    def normalize(reply: Any) -> Any:
        if isinstance(reply, int) and reply > 0:
            return ("about", (reply + tolerance // 2) // tolerance)
        return reply

    return normalize


@dataclass
class Mismatch:
    args: Args
    engine: Any
    redis: Any
    history: list[Args] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [
            f"command: {self.args!r}",
            f"  engine: {self.engine!r}",
            f"  redis:  {self.redis!r}",
        ]
        lines.append("history (oldest first):")
        lines.extend(f"  {args!r}" for args in self.history[-30:])
        return "\n".join(lines)


class Differential:
    """One engine and one redis connection (RESP2 or RESP3), flushed at the start."""

    def __init__(self, port: int, resp3: bool = False, seed: int = 0) -> None:
        self.redis = RawRedis(port)
        self.resp3 = resp3
        self.redis.call([b"HELLO", b"3" if resp3 else b"2"])
        self.redis.call([b"FLUSHALL"])
        self.redis.call([b"DEBUG", b"SET-ACTIVE-EXPIRE", b"0"])
        self.engine = Engine(EngineConfig())
        self.rng = random.Random(seed)
        self.history: list[Args] = []

    def engine_call(self, args: Args) -> Any:
        now_ms = int(time.time() * 1000)
        reply = self.engine.execute(list(args), now_ms, self.rng)
        return _parse(resp.encode(reply, self.resp3))

    def both(self, args: Args) -> tuple[Any, Any]:
        self.history.append(list(args))
        return self.engine_call(args), self.redis.call(args)

    def check(self, args: Args, normalize: Callable[[Any], Any] | None = None) -> Any:
        """Run args on both; raise AssertionError with the history when replies differ."""
        engine_reply, redis_reply = self.both(args)
        if normalize is not None:
            engine_view, redis_view = normalize(engine_reply), normalize(redis_reply)
        else:
            engine_view, redis_view = engine_reply, redis_reply
        if engine_view != redis_view:
            raise AssertionError(str(Mismatch(list(args), engine_reply, redis_reply, self.history)))
        return redis_reply

    def close(self) -> None:
        self.redis.close()

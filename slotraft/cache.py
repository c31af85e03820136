"""Cache-aside with leases for redis-py (issue 27): stampede protection in one line.

    cache = LeaseCache(redis.Redis(port=7000), ttl_ms=60_000)

    @cache.cached(key=lambda user_id: f"user:{user_id}")
    def load_user(user_id: int) -> dict: ...

On a miss exactly one caller (cluster-wide: the lease is the shard's replicated state) runs
the function; the others block on the key until its value is set (LEASE.GET ... BLOCK),
or, with `stale_ms`, are served the previous value while it is recomputed. A value
computed before an invalidation (DEL of the key after a database update) is not stored:
LEASE.SET refuses it. Before a value expires, callers refresh it early with a probability
that grows as the expiry nears and with the recomputation's cost (probabilistic early
expiration, Vattani et al., VLDB 2015: "XFetch"), one caller at a time (LEASE.GET REFRESH).

Values are stored as a 20-byte header (magic, the recomputation's duration, the expiry
time) and the encoded value (JSON by default). A key written by another client without the
header is read as the encoded value, never refreshed early.
`AsyncLeaseCache` is the same for redis.asyncio.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import random
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import redis
import redis.asyncio

P = ParamSpec("P")
R = TypeVar("R")

_HEADER = struct.Struct(">4sQq")  # magic, recomputation ms, expiry (unix ms)
_MAGIC = b"SLC1"
_WAIT_SLICE_MS = 1_000  # one LEASE.GET blocks at most this long before asking again


class LeaseTimeout(Exception):
    """No value and no lease within `wait_ms`: another caller's recomputation is slow."""


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _loads(data: bytes) -> Any:
    return json.loads(data)


@dataclass
class _Policy:
    """What both caches share: the options, the envelope and the early-refresh draw."""

    ttl_ms: int
    lease_ms: int = 10_000
    wait_ms: int = 30_000
    stale_ms: int = 0
    beta: float = 1.0
    rate_ms: int = 0
    encode: Callable[[Any], bytes] = _dumps
    decode: Callable[[bytes], Any] = _loads
    rng: random.Random = field(default_factory=random.Random)
    recomputes: int = 0  # how many times this cache ran the function

    def lease_get(self, key: str | bytes, block_ms: int, refresh: bool = False) -> list[Any]:
        args: list[Any] = ["LEASE.GET", key, self.lease_ms]
        if self.stale_ms:
            args.append("STALE")
        if self.rate_ms:
            args += ["RATE", self.rate_ms]
        if refresh:
            args.append("REFRESH")
        else:
            args += ["BLOCK", max(1, block_ms)]
        return args

    def lease_set(self, key: str | bytes, token: bytes, value: Any, took_ms: int) -> list[Any]:
        expires = int(time.time() * 1000) + self.ttl_ms
        envelope = _HEADER.pack(_MAGIC, max(took_ms, 0), expires) + self.encode(value)
        args: list[Any] = ["LEASE.SET", key, token, envelope, "PX", self.ttl_ms]
        if self.stale_ms:
            args += ["STALE", self.stale_ms]
        return args

    def unwrap(self, data: bytes) -> tuple[Any, bool]:
        """The value, and whether this caller should refresh it early: XFetch's draw,
        now - delta * beta * ln(U) >= expiry, U uniform in (0, 1]."""
        if len(data) < _HEADER.size or data[:4] != _MAGIC:
            return self.decode(data), False
        _, took_ms, expires = _HEADER.unpack_from(data)
        draw = 1.0 - self.rng.random()  # (0, 1]
        now = time.time() * 1000
        early = now - took_ms * self.beta * math.log(draw) >= expires
        return self.decode(data[_HEADER.size :]), early


def _state(reply: list[Any]) -> bytes:
    state = reply[0]
    return state if type(state) is bytes else str(state).encode()


class LeaseCache(_Policy):
    """Cache-aside over a redis.Redis (decode_responses off) talking to a slotraft router."""

    def __init__(self, client: redis.Redis, ttl_ms: int, **options: Any) -> None:
        super().__init__(ttl_ms=ttl_ms, **options)
        self.client = client

    def get(self, key: str | bytes, compute: Callable[[], Any]) -> Any:
        """The cached value of `key`, computed by `compute` by one caller on a miss."""
        deadline = time.monotonic() + self.wait_ms / 1000
        while True:
            left = int((deadline - time.monotonic()) * 1000)
            if left <= 0:
                raise LeaseTimeout(f"no value for {key!r} within {self.wait_ms} ms")
            reply = self.client.execute_command(*self.lease_get(key, min(left, _WAIT_SLICE_MS)))
            state = _state(reply)
            if state == b"HIT":
                value, early = self.unwrap(reply[1])
                if not early:
                    return value
                refresh = self.client.execute_command(*self.lease_get(key, 0, refresh=True))
                if _state(refresh) != b"LEASE":
                    return value
                return self._fill(key, refresh[2], compute)
            if state == b"LEASE":
                return self._fill(key, reply[2], compute)
            if state == b"STALE":
                return self.unwrap(reply[1])[0]
            # WAIT: another caller recomputes; ask again (blocked until it sets the value).

    def _fill(self, key: str | bytes, token: bytes, compute: Callable[[], Any]) -> Any:
        started = time.monotonic()
        self.recomputes += 1
        value = compute()
        took = int((time.monotonic() - started) * 1000)
        try:
            self.client.execute_command(*self.lease_set(key, token, value, took))
        except redis.ResponseError as error:
            if "lease is not valid" not in str(error):
                raise
            # Invalidated (or expired) meanwhile: this value may be stale, not stored.
        return value

    def cached(self, key: Callable[..., str | bytes]) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """A decorator: the function's result cached under key(*args, **kwargs)."""

        def decorate(function: Callable[P, R]) -> Callable[P, R]:
            @functools.wraps(function)
            def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
                return self.get(key(*args, **kwargs), lambda: function(*args, **kwargs))

            return wrapper

        return decorate


class AsyncLeaseCache(_Policy):
    """LeaseCache for redis.asyncio.Redis."""

    def __init__(self, client: redis.asyncio.Redis, ttl_ms: int, **options: Any) -> None:
        super().__init__(ttl_ms=ttl_ms, **options)
        self.client = client

    async def get(self, key: str | bytes, compute: Callable[[], Awaitable[Any]]) -> Any:
        deadline = asyncio.get_running_loop().time() + self.wait_ms / 1000
        while True:
            left = int((deadline - asyncio.get_running_loop().time()) * 1000)
            if left <= 0:
                raise LeaseTimeout(f"no value for {key!r} within {self.wait_ms} ms")
            command = self.lease_get(key, min(left, _WAIT_SLICE_MS))
            reply = await self.client.execute_command(*command)
            state = _state(reply)
            if state == b"HIT":
                value, early = self.unwrap(reply[1])
                if not early:
                    return value
                refresh = await self.client.execute_command(*self.lease_get(key, 0, True))
                if _state(refresh) != b"LEASE":
                    return value
                return await self._fill(key, refresh[2], compute)
            if state == b"LEASE":
                return await self._fill(key, reply[2], compute)
            if state == b"STALE":
                return self.unwrap(reply[1])[0]

    async def _fill(
        self, key: str | bytes, token: bytes, compute: Callable[[], Awaitable[Any]]
    ) -> Any:
        started = time.monotonic()
        self.recomputes += 1
        value = await compute()
        took = int((time.monotonic() - started) * 1000)
        try:
            await self.client.execute_command(*self.lease_set(key, token, value, took))
        except redis.ResponseError as error:
            if "lease is not valid" not in str(error):
                raise
        return value

    def cached(
        self, key: Callable[..., str | bytes]
    ) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
        """A decorator for coroutine functions: the result cached under key(*args)."""

        def decorate(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
            @functools.wraps(function)
            async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
                return await self.get(key(*args, **kwargs), lambda: function(*args, **kwargs))

            return wrapper

        return decorate

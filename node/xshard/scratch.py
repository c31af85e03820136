"""The coordinator's scratch engine: a cross-shard transaction's commands run, at DECIDE,
on a fresh engine holding only the prepared values (docs/CROSS-SHARD.md, step 2). What
changed comes back as writes. The engine is the shards' own, so replies, errors, EXEC and
script semantics and the work budget are exactly a single shard's.

A value crosses shards as DUMP's payload behind the key's absolute expiry time: 8 bytes,
big-endian milliseconds, 0 for none (RESTORE ... ABSTTL puts it back).
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

from node.engine.config import EngineConfig
from node.engine.engine import Engine
from proto.resp import NULL_ARRAY, OK, Error, Reply, encode
from proto.xshard_messages import Executed, Failed, Value

_EXPIRY = struct.Struct(">Q")


@dataclass(frozen=True, slots=True)
class Program:
    """What DECIDE runs: one multi-key command (`single`: its reply alone) or an EXEC body
    (the array of replies, or the null array when a WATCH digest no longer matches). The
    reply comes back encoded, as a shard's replies do."""

    commands: tuple[tuple[bytes, ...], ...]
    single: bool = True
    watches: tuple[tuple[bytes, bytes], ...] = ()  # (key, digest at WATCH)
    seed: int = 0  # the entry's seed: SPOP, SRANDMEMBER and scripts draw from it
    resp3: bool = False  # the client's protocol: the reply is encoded in it


def encode_value(payload: bytes | None, expire_at: int) -> Value:
    if payload is None:
        return None
    return _EXPIRY.pack(max(expire_at, 0)) + payload


def read_value(engine: Engine, key: bytes, now_ms: int) -> Value:
    """A key of `engine` as a value to carry (what PREPARE returns)."""
    rng = random.Random(0)
    payload = engine.execute([b"DUMP", key], now_ms, rng)
    if not isinstance(payload, bytes) or isinstance(payload, Error):
        return None
    expire_at = engine.execute([b"PEXPIRETIME", key], now_ms, rng)
    return encode_value(payload, expire_at if isinstance(expire_at, int) else 0)


def write_value(engine: Engine, key: bytes, value: Value, now_ms: int) -> Reply:
    """Install a carried value (what COMMIT does): RESTORE ... REPLACE ABSTTL, or DEL."""
    rng = random.Random(0)
    if value is None or len(value) < _EXPIRY.size:
        engine.execute([b"DEL", key], now_ms, rng)
        return OK
    (expire_at,) = _EXPIRY.unpack_from(value)
    args = [b"RESTORE", key, b"%d" % expire_at, value[_EXPIRY.size :], b"REPLACE"]
    if expire_at:
        args.append(b"ABSTTL")
    return engine.execute(args, now_ms, rng)


class ScratchExecutor:
    """An `Executor` (node/xshard/state.py) over a fresh engine for each run."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()

    def __call__(self, program: object, inputs: dict[bytes, Value], now: int) -> Executed | Failed:
        if not isinstance(program, Program) or not program.commands:
            return Failed("ERR malformed cross-shard program")
        engine = Engine(self.config)
        for key, value in sorted(inputs.items()):
            if value is None:
                continue
            loaded = write_value(engine, key, value, now)
            if loaded != OK:
                return Failed(f"ERR cross-shard value of a key does not load: {loaded!r}")
        before = {key: read_value(engine, key, now) for key in inputs}
        rng = random.Random(program.seed)
        commands = [list(command) for command in program.commands]
        replies = engine.execute_transaction(
            commands, now, rng, None if program.single else list(program.watches)
        )
        if program.single:
            reply: Reply = replies[0] if replies else NULL_ARRAY
        else:
            reply = NULL_ARRAY if replies is None else replies
        writes: dict[bytes, Value] = {}
        for key in inputs:
            after = read_value(engine, key, now)
            if after != before[key]:
                writes[key] = after
        return Executed(writes, encode(reply, program.resp3))

"""The simulation's adversarial client: shard log entries (node.entry_codec) full of
random commands over every type with often invalid arguments, small Lua scripts,
MULTI/EXEC transactions with WATCH digests (and SELECTs), session retries, expiry and
eviction keys (of database 0 and others), requests in any of the 16 databases, database
map entries (SWAPDB's steps, in and out of order), and malformed entries. Drawn from a
seeded random.Random (the simulation's determinism), from the same vocabulary as the
hypothesis fuzzers (tests/fuzz/entries.py)."""

from __future__ import annotations

import random

from node import entry_codec
from node.entry_codec import Request, ShardEntry
from tests.differential.common import KEYS
from tests.fuzz.entries import (
    BOUNDARY_NUMBERS,
    BUDGET_EXHAUSTING,
    COMMAND_NAMES,
    LUA_NUMBERS,
    LUA_STATEMENTS,
    LUA_STRINGS,
    LUA_VALUE_LITERALS,
    OPTION_WORDS,
)

SMALL_VALUES = [b"", b"a", b"b", b"1", b"-2", b"1.5", b"x" * 70, b"\x00\xff"]
BLOCKING = [
    [b"BLPOP", b"k1", b"0"],
    [b"BRPOP", b"k1", b"k2", b"1"],
    [b"BZPOPMIN", b"k3", b"0.5"],
    [b"BLMOVE", b"k1", b"k2", b"LEFT", b"RIGHT", b"0"],
]
# Heavy-work offsets (SETRANGE, SETBIT) are left out, as in the fuzzers.
_TOKENS = [*KEYS, *KEYS, *SMALL_VALUES, *OPTION_WORDS, *BOUNDARY_NUMBERS]


class Adversary:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.clients = [1, 2, 3]
        self.sequences = dict.fromkeys(self.clients, 0)

    def token(self) -> bytes:
        rng = self.rng
        if rng.random() < 0.05:
            return rng.randbytes(rng.randint(0, 8))
        return rng.choice(_TOKENS)

    def command(self) -> list[bytes]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.08:
            return self.script()
        if roll < 0.11:
            return [rng.randbytes(rng.randint(0, 6))]
        if roll < 0.13:  # runs inside a transaction, an unknown command elsewhere
            return [b"SELECT", rng.choice([b"0", b"3", b"15", b"16", b"-1", b"x"])]
        name = rng.choice(COMMAND_NAMES)
        name = name.upper() if rng.random() < 0.5 else name
        return [*name.split(b" "), *(self.token() for _ in range(rng.randint(0, 6)))]

    def script_body(self) -> bytes:
        rng = self.rng
        statements = []
        for _ in range(rng.randint(0, 2)):
            if rng.random() < 0.01:
                statements.append(rng.choice(BUDGET_EXHAUSTING))
            elif rng.random() < 0.5:
                statements.append(self.lua_call())
            else:
                statements.append(rng.choice(LUA_STATEMENTS))
        final = self.lua_call() if rng.random() < 0.5 else rng.choice(LUA_VALUE_LITERALS)
        return "\n".join([*statements, f"return {final}"]).encode()

    def lua_call(self) -> str:
        rng = self.rng
        name = rng.choice(COMMAND_NAMES).decode().split(" ")[0]
        arguments = [rng.choice(LUA_STRINGS + LUA_NUMBERS) for _ in range(rng.randint(0, 3))]
        kind = rng.choice(("call", "pcall"))
        return f"redis.{kind}({', '.join([repr(name), *arguments])})"

    def script(self) -> list[bytes]:
        rng = self.rng
        keys = rng.sample(KEYS, rng.randint(0, 2))
        arguments = [self.token() for _ in range(rng.randint(0, 2))]
        return [b"EVAL", self.script_body(), b"%d" % len(keys), *keys, *arguments]

    def request(self, watch: list[tuple[bytes, bytes]]) -> Request:
        rng = self.rng
        client = rng.choice(self.clients)
        sequence = 0
        if rng.random() < 0.5:
            # Mostly the next sequence; sometimes a retry of the last one, or a stale one.
            if rng.random() < 0.8:
                self.sequences[client] += 1
            sequence = max(self.sequences[client] - rng.choice((0, 0, 0, 1, 5)), 1)
        acked = max(sequence - rng.choice((0, 1, 2)), 0)
        resp3 = rng.random() < 0.3
        db = rng.choice((3, 15, rng.randint(1, 15))) if rng.random() < 0.15 else 0
        shape = rng.random()
        if shape < 0.08:
            blocking = [rng.choice(BLOCKING)]
            return Request(
                client, sequence, acked, entry_codec.COMMANDS, resp3, blocking, [], b"", db
            )
        commands = [self.command() for _ in range(rng.randint(1, 4))]
        kind = entry_codec.TRANSACTION if shape < 0.3 else entry_codec.COMMANDS
        watches = watch if kind == entry_codec.TRANSACTION else []
        return Request(client, sequence, acked, kind, resp3, commands, watches, b"", db)

    def db_map_step(self) -> entry_codec.DbMapStep:
        """A SWAPDB step as a shard leader proposes it, or one out of order (an older
        epoch, a fence without a map): every replica must apply it the same way."""
        rng = self.rng
        mapping = list(range(16))
        rng.shuffle(mapping)
        epoch = rng.randint(0, 4)
        fence_epoch = rng.choice((0, epoch + 1, rng.randint(0, 5)))
        return entry_codec.DbMapStep(epoch, mapping, fence_epoch, rng.getrandbits(16))

    def entry(self, time_ms: int, watch: list[tuple[bytes, bytes]]) -> bytes:
        """One encoded entry; `watch` is (key, digest) pairs as a client's WATCH took them."""
        rng = self.rng
        if rng.random() < 0.03:
            # Malformed: cut short, or of an unknown version. Not random bytes after a valid
            # prefix: marshal allocates the item count it reads before reading the items, so
            # such an entry can cost seconds (the fuzzers' random bytes cover that case).
            good = entry_codec.encode(ShardEntry(time_ms, 1, [self.request([])], [], []))
            if rng.random() < 0.5:
                return good[: rng.randint(0, len(good) - 1)]
            return bytes((rng.randint(2, 255),)) + good[1:]
        if rng.random() < 0.02:
            step = self.db_map_step()
            return entry_codec.encode(ShardEntry(time_ms, 1, [], [], [], db_map=step))
        requests = [self.request(watch) for _ in range(rng.randint(1, 3))]
        expire = rng.sample(KEYS, rng.randint(1, 2)) if rng.random() < 0.1 else []
        evict = rng.sample(KEYS, 1) if rng.random() < 0.05 else []
        others = None
        if rng.random() < 0.05:
            others = [
                (rng.randint(1, 15), rng.sample(KEYS, 1), rng.sample(KEYS, rng.randint(0, 1)))
            ]
        seed = rng.getrandbits(64)
        entry = ShardEntry(time_ms, seed, requests, expire, evict, None, others)
        return entry_codec.encode(entry)

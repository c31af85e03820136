"""`slotraft import redis://...`: a live server walked with SCAN, each batch read with
DUMP and PTTL in one pipeline and written with RESTORE in another."""

from __future__ import annotations

import argparse
from typing import Any

import redis

from slotraft.import_common import Progress, State, db_map, other_db_reason, restore_batch
from slotraft.import_compare import read_contents

# DUMP payloads of types slotraft does not hold, by their type byte (21: Redis 7.2's
# streams, which Redis 7.0 does not read either).
_UNSUPPORTED = {bytes((21,)): "streams of Redis 7.2 (RDB type 21) are not supported"} | {
    bytes((kind,)): "module values are not supported" for kind in (6, 7)
}


def import_live(args: argparse.Namespace, state: State, target: redis.Redis) -> tuple[int, int]:
    """Copy from a live server; (keys in the source database, keys on the target)."""
    source = redis.Redis.from_url(args.source)
    db = int(source.connection_pool.connection_kwargs.get("db", 0) or 0)
    total = int(source.dbsize())
    tally = state.tally
    if db not in db_map(args.db_map):
        if not state.done:
            tally.skipped[other_db_reason(db)] += total
            state.done = True
            state.save()
        return total, int(target.dbsize())
    progress = Progress(total, args.quiet)
    while not state.done:
        cursor, found = source.scan(cursor=state.position, count=args.batch)
        keys = [key if isinstance(key, bytes) else key.encode() for key in found]
        pipe = source.pipeline(transaction=False)
        for key in keys:
            pipe.dump(key)
            pipe.pttl(key)
        replies = pipe.execute(raise_on_error=False)
        commands: list[tuple[bytes, list[Any]]] = []
        for index, key in enumerate(keys):
            payload, ttl = replies[2 * index], replies[2 * index + 1]
            tally.seen += 1
            if isinstance(payload, Exception) or isinstance(ttl, Exception):
                tally.fail(key, f"source: {payload if isinstance(payload, Exception) else ttl}")
            elif payload is None or ttl == -2:
                tally.skipped["gone from the source before it was read"] += 1
            elif payload[:1] in _UNSUPPORTED:
                tally.skipped[_UNSUPPORTED[payload[:1]]] += 1
            else:
                options = ["REPLACE"] if args.replace else []
                commands.append((key, [max(int(ttl), 0), payload, *options]))
        if commands:
            restore_batch(target, commands, tally, args)
        state.position = int(cursor)
        state.done = state.position == 0
        state.save()
        progress.show(tally.seen, tally)
    progress.show(tally.seen, tally, final=True)
    return total, int(target.dbsize())


def compare_sample(source: redis.Redis, target: redis.Redis, keys: list[bytes]) -> list[bool]:
    """Whether each key holds the same value on both sides, with a TTL on both or none
    (the remaining times differ by the time the copy took)."""
    theirs, ours = read_contents(source, keys), read_contents(target, keys)
    pipe = source.pipeline(transaction=False)
    for key in keys:
        pipe.pttl(key)
    their_ttls = pipe.execute(raise_on_error=False)
    pipe = target.pipeline(transaction=False)
    for key in keys:
        pipe.pttl(key)
    our_ttls = pipe.execute(raise_on_error=False)
    return [
        a is not None and a == b and (ttl_a == -1) == (ttl_b == -1)
        for a, b, ttl_a, ttl_b in zip(theirs, ours, their_ttls, our_ttls, strict=True)
    ]

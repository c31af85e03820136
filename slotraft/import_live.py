"""`slotraft import redis://...`: a live server walked with SCAN, each batch read with
DUMP and PTTL in one pipeline and written with RESTORE in another. A URL with /DB (or
?db=N) names one source database; without, every database the server's INFO keyspace
lists is copied, one after the other, each into its own number on the target (or where
--db-map says)."""

from __future__ import annotations

import argparse
from typing import Any

import redis

from slotraft.import_common import (
    DatabaseState,
    Progress,
    State,
    not_mapped_reason,
    open_targets,
    plan,
    restore_batch,
)
from slotraft.import_compare import DatabaseCheck, compare_live

# DUMP payloads of types slotraft does not hold, by their type byte (21: Redis 7.2's
# streams, which Redis 7.0 does not read either).
_UNSUPPORTED = {bytes((21,)): "streams of Redis 7.2 (RDB type 21) are not supported"} | {
    bytes((kind,)): "module values are not supported" for kind in (6, 7)
}


def source_databases(url: str) -> set[int]:
    """The database the URL names, or else every one that holds keys now."""
    client = redis.Redis.from_url(url)
    named = client.connection_pool.connection_kwargs.get("db")
    if named is not None:
        return {int(named)}
    return {int(name[2:]) for name in client.info("keyspace") if name.startswith("db")}


def import_live(
    args: argparse.Namespace, state: State, mapping: dict[int, int] | None
) -> list[DatabaseCheck]:
    """Copy from a live server, one source database after the other; a check of each."""
    # A database a resumed run began may be empty by now: it is still reported.
    targets = plan(source_databases(args.source) | state.databases.keys(), mapping)
    entries = {db: state.database(db, target) for db, target in targets.items()}
    clients = open_targets(args, (db for db in targets.values() if db is not None))
    checks = []
    for db, entry in entries.items():
        # The URL's own database, if it names one, wins over db=: it is the same one.
        source = redis.Redis.from_url(args.source, db=db)
        total = int(source.dbsize())
        if entry.target is None:
            if not entry.done:
                entry.tally.skipped[not_mapped_reason(db)] += total
                entry.done = True
                state.save()
            checks.append(DatabaseCheck(db, None, total))
            continue
        target = clients[entry.target]
        _copy(args, state, entry, source, target, Progress(db, total, args.quiet))
        keys = [key.encode("latin-1") for key in entry.tally.copied_sample]
        sample = compare_live(source, target, keys)
        checks.append(DatabaseCheck(db, entry.target, total, int(target.dbsize()), sample))
    return checks


def _copy(
    args: argparse.Namespace,
    state: State,
    entry: DatabaseState,
    source: redis.Redis,
    target: redis.Redis,
    progress: Progress,
) -> None:
    """Walk one source database from where its state says, saving after every batch."""
    tally = entry.tally
    while not entry.done:
        cursor, found = source.scan(cursor=entry.position, count=args.batch)
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
        entry.position = int(cursor)
        entry.done = entry.position == 0
        state.save()
        progress.show(tally.seen, tally)
    progress.show(tally.seen, tally, final=True)

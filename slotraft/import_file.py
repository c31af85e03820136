"""`slotraft import dump.rdb`: every key of an .rdb file RESTOREd with its absolute
expiry (ABSTTL), IDLETIME or FREQ into the target database of its own (the one its
SELECTDB named, or where --db-map says), one source database after the other."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import redis

from proto.rdb import rdbfile
from proto.rdb.reader import FormatError
from slotraft.import_common import (
    DatabaseState,
    Progress,
    State,
    not_mapped_reason,
    open_targets,
    plan,
    restore_batch,
)
from slotraft.import_compare import DatabaseCheck, compare_payloads

Records = list[rdbfile.KeyRecord]


def import_file(
    args: argparse.Namespace, state: State, mapping: dict[int, int] | None
) -> list[DatabaseCheck]:
    """RESTORE every key of an .rdb file, one database after the other; a check of each."""
    by_db = _read(args.source)
    targets = plan(by_db, mapping)
    entries = {db: state.database(db, target) for db, target in targets.items()}
    clients = open_targets(args, (db for db in targets.values() if db is not None))
    checks = []
    for db, entry in entries.items():
        records = by_db.get(db, [])
        if entry.target is None:
            if not entry.done:
                entry.tally.seen += len(records)
                entry.tally.skipped[not_mapped_reason(db)] += len(records)
                entry.done = True
                state.save()
            checks.append(DatabaseCheck(db, None, len(records)))
            continue
        target = clients[entry.target]
        _copy(args, state, entry, records, target, Progress(db, len(records), args.quiet))
        keys = [key.encode("latin-1") for key in entry.tally.copied_sample]
        payloads = {record.key: record.payload for record in records}
        sample = compare_payloads(target, keys, payloads)
        checks.append(DatabaseCheck(db, entry.target, len(records), int(target.dbsize()), sample))
    return checks


def _read(source: str) -> dict[int, Records]:
    """The file's records by database, in the file's order within each."""
    info = rdbfile.FileInfo(0, {})
    try:
        records = list(rdbfile.read_file(Path(source).read_bytes(), info))
    except FormatError as error:
        raise SystemExit(f"{source}: not a readable RDB file: {error}") from None
    if info.checksum_ok is False:
        raise SystemExit(f"{source}: the file's CRC-64 is wrong")
    if info.functions:
        print(f"note: {info.functions} function libraries in the file were not imported")
    by_db: dict[int, Records] = {}
    for record in records:
        by_db.setdefault(record.db, []).append(record)
    return by_db


def _copy(
    args: argparse.Namespace,
    state: State,
    entry: DatabaseState,
    records: Records,
    target: redis.Redis,
    progress: Progress,
) -> None:
    """RESTORE one database's records from where its state says, saving after every batch."""
    tally = entry.tally
    now_ms = int(time.time() * 1000)
    while entry.position < len(records):
        batch = records[entry.position : entry.position + args.batch]
        commands: list[tuple[bytes, list[Any]]] = []
        for record in batch:
            tally.seen += 1
            if record.unsupported:
                tally.skipped[record.unsupported] += 1
            elif record.expire_ms is not None and record.expire_ms <= now_ms:
                tally.skipped["expired"] += 1
            else:
                options: list[Any] = ["ABSTTL"]
                if args.replace:
                    options.append("REPLACE")
                if record.freq is not None:
                    options += ["FREQ", record.freq]
                elif record.idle is not None:
                    options += ["IDLETIME", record.idle]
                commands.append((record.key, [record.expire_ms or 0, record.payload, *options]))
        if commands:
            restore_batch(target, commands, tally, args)
        entry.position += len(batch)
        state.save()
        progress.show(tally.seen, tally)
    entry.done = True
    state.save()
    progress.show(tally.seen, tally, final=True)

"""`slotraft import dump.rdb`: every key of an .rdb file RESTOREd with its absolute
expiry (ABSTTL), IDLETIME or FREQ."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import redis

from proto.rdb import rdbfile
from proto.rdb.reader import FormatError
from slotraft.import_common import Progress, State, db_map, other_db_reason, restore_batch
from slotraft.import_compare import payload_content, read_contents


def import_file(args: argparse.Namespace, state: State, target: redis.Redis) -> tuple[int, int]:
    """RESTORE every key of an .rdb file; (keys in the file, keys on the target)."""
    data = Path(args.source).read_bytes()
    info = rdbfile.FileInfo(0, {})
    try:
        records = list(rdbfile.read_file(data, info))
    except FormatError as error:
        raise SystemExit(f"{args.source}: not a readable RDB file: {error}") from None
    if info.checksum_ok is False:
        raise SystemExit(f"{args.source}: the file's CRC-64 is wrong")
    args.records = {record.key: record for record in records}
    mapping = db_map(args.db_map)
    tally = state.tally
    progress = Progress(len(records), args.quiet)
    now_ms = int(time.time() * 1000)
    while state.position < len(records):
        batch = records[state.position : state.position + args.batch]
        commands: list[tuple[bytes, list[Any]]] = []
        for record in batch:
            tally.seen += 1
            if record.db not in mapping:
                tally.skipped[other_db_reason(record.db)] += 1
            elif record.unsupported:
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
        state.position += len(batch)
        state.save()
        progress.show(tally.seen, tally)
    state.done = True
    state.save()
    progress.show(tally.seen, tally, final=True)
    if info.functions:
        print(f"note: {info.functions} function libraries in the file were not imported")
    return len(records), int(target.dbsize())


def verify_sample(args: argparse.Namespace, target: redis.Redis, keys: list[bytes]) -> list[bool]:
    ours = read_contents(target, keys)
    return [
        found is not None and found == payload_content(args.records[key].payload)
        for key, found in zip(keys, ours, strict=True)
    ]

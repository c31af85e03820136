"""`slotraft import`: copy a Redis data set into slotraft.

    slotraft import redis://HOST:PORT[/DB] --to HOST:PORT [--replace] [--resume FILE]
    slotraft import dump.rdb --to HOST:PORT [--replace] [--resume FILE]

A live source is walked with SCAN; each batch of keys is read with DUMP and PTTL in one
pipeline and written with RESTORE in another. An .rdb file (version 10 or earlier) is
read with proto.rdb.rdbfile and each key RESTOREd with its absolute expiry (ABSTTL),
IDLETIME or FREQ. Both end with a summary (copied, skipped and failed keys, with the
reasons) and a verification: the key counts, and a sample of keys whose values are read
back from both sides and compared by content. A value too large for one RESTORE on the
nodes (max-command-work) is written with its type's commands in chunks instead
(slotraft/import_rebuild.py).

The progress (the SCAN cursor, or the number of file records done) and the counts are
saved to the --resume file after every batch: run the same command again with it to go
on where it stopped. slotraft has database 0 only: keys of another source database are
skipped unless --db-map SRC:0 says to import them into database 0.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from proto.rdb import rdbfile
from proto.rdb.reader import FormatError
from slotraft.import_compare import payload_content, read_contents
from slotraft.import_rebuild import rebuild

BUSYKEY = "BUSYKEY"
# DUMP payloads of types slotraft does not hold yet, by their type byte.
_UNSUPPORTED = {bytes((kind,)): "streams are not supported yet" for kind in (15, 19, 21)} | {
    bytes((kind,)): "module values are not supported" for kind in (6, 7)
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="redis://[USER:PASSWORD@]HOST:PORT[/DB] or an .rdb file")
    parser.add_argument("--to", required=True, metavar="HOST:PORT", help="a slotraft router")
    parser.add_argument("--to-password", default=None, help="AUTH password of the router")
    parser.add_argument(
        "--replace", action="store_true", help="overwrite keys that exist on the target"
    )
    parser.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="FILE",
        help="state file: progress is saved there after every batch, and a run given an "
        "existing one goes on where it stopped",
    )
    parser.add_argument(
        "--db-map",
        action="append",
        default=[],
        metavar="SRC:0",
        help="import source database SRC into database 0 (repeatable); other databases "
        "than 0 are skipped otherwise",
    )
    parser.add_argument("--batch", type=int, default=200, help="keys per pipeline (200)")
    parser.add_argument(
        "--sample", type=int, default=100, help="keys compared by value at the end (100)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


@dataclass
class Tally:
    copied: int = 0
    rebuilt: int = 0  # of the copied: too large for one RESTORE, written with commands
    skipped: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    failed_keys: list[str] = field(default_factory=list)  # the first few, for the summary
    copied_sample: list[str] = field(default_factory=list)  # reservoir of copied keys
    seen: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "copied": self.copied,
            "rebuilt": self.rebuilt,
            "skipped": dict(self.skipped),
            "failed": dict(self.failed),
            "failed_keys": self.failed_keys,
            "copied_sample": self.copied_sample,
            "seen": self.seen,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tally:
        return cls(
            copied=data["copied"],
            rebuilt=data["rebuilt"],
            skipped=Counter(data["skipped"]),
            failed=Counter(data["failed"]),
            failed_keys=list(data["failed_keys"]),
            copied_sample=list(data["copied_sample"]),
            seen=data["seen"],
        )

    def fail(self, key: bytes, reason: str) -> None:
        self.failed[reason] += 1
        if len(self.failed_keys) < 20:
            self.failed_keys.append(f"{key!r}: {reason}")

    def copied_one(self, key: bytes, rng: random.Random, sample_size: int) -> None:
        """Count a copied key and keep a uniform sample of them (reservoir sampling)."""
        self.copied += 1
        text = key.decode("latin-1")
        if len(self.copied_sample) < sample_size:
            self.copied_sample.append(text)
        else:
            slot = rng.randrange(self.copied)
            if slot < sample_size:
                self.copied_sample[slot] = text


class State:
    """What --resume keeps: the source, where the walk is, the tally."""

    def __init__(self, path: Path | None, source: str) -> None:
        self.path = path
        self.source = source
        self.position = 0  # SCAN cursor, or file records done
        self.done = False
        self.tally = Tally()
        if path is not None and path.exists():
            data = json.loads(path.read_text())
            if data["source"] != source:
                raise SystemExit(f"{path} is the state of an import from {data['source']}")
            self.position = data["position"]
            self.done = data["done"]
            self.tally = Tally.from_json(data["tally"])

    def save(self) -> None:
        if self.path is None:
            return
        data = {
            "source": self.source,
            "position": self.position,
            "done": self.done,
            "tally": self.tally.to_json(),
        }
        temporary = self.path.with_suffix(self.path.suffix + ".tmp")
        temporary.write_text(json.dumps(data))
        temporary.replace(self.path)


class Progress:
    def __init__(self, total: int, quiet: bool) -> None:
        self.total = max(total, 1)
        self.quiet = quiet

    def show(self, done: int, tally: Tally, final: bool = False) -> None:
        if self.quiet:
            return
        ratio = min(done / self.total, 1.0)
        bar = "#" * int(ratio * 30)
        line = (
            f"\r[{bar:<30}] {ratio:6.1%} {done}/{self.total} keys: copied {tally.copied}, "
            f"skipped {sum(tally.skipped.values())}, failed {sum(tally.failed.values())}"
        )
        sys.stderr.write(line + ("\n" if final else ""))
        sys.stderr.flush()


def _db_map(entries: list[str]) -> dict[int, int]:
    mapping = {0: 0}
    for entry in entries:
        source, _, target = entry.partition(":")
        if not source.isdigit() or target != "0":
            raise SystemExit(f"--db-map {entry}: SRC:0 expected (slotraft has database 0 only)")
        mapping[int(source)] = 0
    return mapping


def _other_db_reason(db: int) -> str:
    return f"database {db}: slotraft has database 0 only (--db-map {db}:0 imports it)"


def _target(args: argparse.Namespace) -> redis.Redis:
    host, _, port = args.to.rpartition(":")
    return redis.Redis(host=host or "127.0.0.1", port=int(port), password=args.to_password)


def _restore_results(
    target: redis.Redis, commands: list[tuple[bytes, list[Any]]], tally: Tally, args: Any
) -> None:
    """Run the RESTOREs in one pipeline and count each outcome."""
    pipe = target.pipeline(transaction=False)
    for key, arguments in commands:
        pipe.execute_command("RESTORE", key, *arguments)
    replies = pipe.execute(raise_on_error=False)
    for (key, arguments), reply in zip(commands, replies, strict=True):
        if isinstance(reply, redis.exceptions.ResponseError):
            text = str(reply)
            if text.startswith(BUSYKEY) or "already exists" in text:
                tally.skipped["exists on the target (--replace overwrites)"] += 1
            elif "max-command-work" in text:
                _rebuild(target, key, arguments, tally, args)
            else:
                tally.fail(key, text)
        elif isinstance(reply, Exception):
            tally.fail(key, f"{type(reply).__name__}: {reply}")
        else:
            tally.copied_one(key, args.rng, args.sample)


def _rebuild(
    target: redis.Redis, key: bytes, arguments: list[Any], tally: Tally, args: Any
) -> None:
    """A value too large for one RESTORE: written with its type's commands instead."""
    ttl, payload, options = arguments[0], arguments[1], arguments[2:]
    try:
        problem = rebuild(target, key, ttl, payload, "ABSTTL" in options, args.replace)
    except FormatError as error:
        tally.fail(key, f"unreadable payload: {error}")
        return
    if problem is None:
        tally.rebuilt += 1
        tally.copied_one(key, args.rng, args.sample)
    elif problem.startswith("exists"):
        tally.skipped[problem] += 1
    else:
        tally.fail(key, problem)


# ---------------------------------------------------------------------- live source


def import_live(args: argparse.Namespace, state: State, target: redis.Redis) -> tuple[int, int]:
    """Copy from a live server; (keys in the source database, keys on the target)."""
    source = redis.Redis.from_url(args.source)
    db = int(source.connection_pool.connection_kwargs.get("db", 0) or 0)
    total = int(source.dbsize())
    tally = state.tally
    if db not in _db_map(args.db_map):
        if not state.done:
            tally.skipped[_other_db_reason(db)] += total
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
            _restore_results(target, commands, tally, args)
        state.position = int(cursor)
        state.done = state.position == 0
        state.save()
        progress.show(tally.seen, tally)
    progress.show(tally.seen, tally, final=True)
    return total, int(target.dbsize())


def _read_both(source: redis.Redis, target: redis.Redis, keys: list[bytes]) -> list[bool]:
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


# ---------------------------------------------------------------------- file source


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
    mapping = _db_map(args.db_map)
    tally = state.tally
    progress = Progress(len(records), args.quiet)
    now_ms = int(time.time() * 1000)
    while state.position < len(records):
        batch = records[state.position : state.position + args.batch]
        commands: list[tuple[bytes, list[Any]]] = []
        for record in batch:
            tally.seen += 1
            if record.db not in mapping:
                tally.skipped[_other_db_reason(record.db)] += 1
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
            _restore_results(target, commands, tally, args)
        state.position += len(batch)
        state.save()
        progress.show(tally.seen, tally)
    state.done = True
    state.save()
    progress.show(tally.seen, tally, final=True)
    if info.functions:
        print(f"note: {info.functions} function libraries in the file were not imported")
    return len(records), int(target.dbsize())


def _verify_file(args: argparse.Namespace, target: redis.Redis, keys: list[bytes]) -> list[bool]:
    ours = read_contents(target, keys)
    return [
        found is not None and found == payload_content(args.records[key].payload)
        for key, found in zip(keys, ours, strict=True)
    ]


# ---------------------------------------------------------------------- the command


def _summary(tally: Tally, counts: tuple[int, int], sample: list[bool]) -> None:
    source_keys, target_keys = counts
    print(f"copied:  {tally.copied}")
    if tally.rebuilt:
        print(f"  {tally.rebuilt:>8}  of them too large for one RESTORE, written with commands")
    print(f"skipped: {sum(tally.skipped.values())}")
    for reason, count in sorted(tally.skipped.items()):
        print(f"  {count:>8}  {reason}")
    print(f"failed:  {sum(tally.failed.values())}")
    for reason, count in sorted(tally.failed.items()):
        print(f"  {count:>8}  {reason}")
    for line in tally.failed_keys:
        print(f"    {line}")
    print(f"keys: {source_keys} in the source, {target_keys} on the target now")
    equal = sum(sample)
    print(f"verification: {equal} of {len(sample)} sampled keys hold the same value")


def run(args: argparse.Namespace) -> int:
    args.rng = random.Random(0)
    live = args.source.startswith(("redis://", "rediss://", "unix://"))
    if not live and not Path(args.source).is_file():
        raise SystemExit(f"{args.source}: neither a redis:// URL nor a file")
    state = State(args.resume, args.source)
    target = _target(args)
    if live:
        counts = import_live(args, state, target)
        source = redis.Redis.from_url(args.source)
        keys = [key.encode("latin-1") for key in state.tally.copied_sample]
        sample = _read_both(source, target, keys) if keys else []
    else:
        counts = import_file(args, state, target)
        keys = [key.encode("latin-1") for key in state.tally.copied_sample]
        sample = _verify_file(args, target, keys) if keys else []
    _summary(state.tally, counts, sample)
    return 0 if not state.tally.failed and all(sample) else 1

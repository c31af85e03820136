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
import random
from pathlib import Path

import redis

from slotraft.import_common import State, Tally
from slotraft.import_file import import_file, verify_sample
from slotraft.import_live import compare_sample, import_live


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


def _target(args: argparse.Namespace) -> redis.Redis:
    host, _, port = args.to.rpartition(":")
    return redis.Redis(host=host or "127.0.0.1", port=int(port), password=args.to_password)


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
        sample = compare_sample(source, target, keys) if keys else []
    else:
        counts = import_file(args, state, target)
        keys = [key.encode("latin-1") for key in state.tally.copied_sample]
        sample = verify_sample(args, target, keys) if keys else []
    _summary(state.tally, counts, sample)
    return 0 if not state.tally.failed and all(sample) else 1

"""`slotraft import`: copy a Redis data set into slotraft, every database of it.

    slotraft import redis://HOST:PORT[/DB] --to HOST:PORT [--replace] [--resume FILE]
    slotraft import dump.rdb --to HOST:PORT [--replace] [--resume FILE]
    ... [--db-map SRC:DST[,SRC:DST...]]

A live source is walked with SCAN; each batch of keys is read with DUMP and PTTL in one
pipeline and written with RESTORE in another. An .rdb file (version 10 or earlier) is
read with proto.rdb.rdbfile and each key RESTOREd with its absolute expiry (ABSTTL),
IDLETIME or FREQ. A value too large for one RESTORE on the nodes (max-command-work) is
written with its type's commands in chunks instead (slotraft/import_rebuild.py).

Each source database goes into the target database of the same number (0-15): from a
file, every database in it; live, the one the URL names (/DB), or without one every
database the server's INFO keyspace lists. --db-map SRC:DST renames, and selects: given,
only the databases it names are imported. A database the target lacks stops the import
before anything is copied.

The run ends with a summary per source database (copied, skipped and failed keys, with
the reasons) and its verification: the key counts of both sides, and a sample of keys
whose values are read back from both and compared by content. The progress (each
database's SCAN cursor, or its file records done) and the counts are saved to the
--resume file after every batch: run the same command again with it to go on where it
stopped.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from slotraft.import_common import DATABASES, State, Tally
from slotraft.import_compare import DatabaseCheck
from slotraft.import_file import import_file
from slotraft.import_live import import_live


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        help="redis://[USER:PASSWORD@]HOST:PORT[/DB] (without /DB: every database) or an "
        ".rdb file (every database in it)",
    )
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
        help="state file: each database's progress is saved there after every batch, and "
        "a run given an existing one goes on where it stopped",
    )
    parser.add_argument(
        "--db-map",
        action="append",
        type=db_pairs,
        default=[],
        metavar="SRC:DST[,SRC:DST...]",
        help=f"import source database SRC into target database DST (0-{DATABASES - 1}); "
        "repeatable. Given, only the databases it names are imported; without it, each "
        "goes into the target database of its own number",
    )
    parser.add_argument("--batch", type=int, default=200, help="keys per pipeline (200)")
    parser.add_argument(
        "--sample",
        type=int,
        default=100,
        help="keys of each database compared by value at the end (100)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def db_pairs(text: str) -> list[tuple[int, int]]:
    """One --db-map value: SRC:DST pairs, comma-separated. argparse reports a ValueError
    as a usage error, before anything is copied."""
    pairs = []
    for pair in text.split(","):
        source, colon, target = pair.strip().partition(":")
        # isascii: str.isdigit also takes digits int() refuses, such as "²".
        if not colon or not all(part.isascii() and part.isdigit() for part in (source, target)):
            raise argparse.ArgumentTypeError(f"{pair!r}: SRC:DST expected (database numbers)")
        if int(target) >= DATABASES:
            raise argparse.ArgumentTypeError(
                f"{pair!r}: the target has databases 0-{DATABASES - 1}"
            )
        pairs.append((int(source), int(target)))
    return pairs


def db_map(values: list[list[tuple[int, int]]]) -> dict[int, int] | None:
    """All --db-map values as one mapping; None when none were given (each database
    into its own number). A source mapped to two databases is refused."""
    if not values:
        return None
    mapping: dict[int, int] = {}
    for source, target in (pair for pairs in values for pair in pairs):
        if mapping.setdefault(source, target) != target:
            raise SystemExit(
                f"--db-map: source database {source} mapped to {mapping[source]} and {target}"
            )
    return mapping


def _summary(state: State, checks: list[DatabaseCheck]) -> None:
    total = Tally()
    for check in checks:
        tally = state.databases[check.source_db].tally
        _database_summary(check, tally)
        total.copied += tally.copied
        total.skipped += tally.skipped
        total.failed += tally.failed
    print(
        f"all databases: copied {total.copied}, skipped {sum(total.skipped.values())}, "
        f"failed {sum(total.failed.values())}"
    )


def _database_summary(check: DatabaseCheck, tally: Tally) -> None:
    if check.target_db is None:
        print(f"database {check.source_db}: not imported")
    else:
        print(f"database {check.source_db} -> database {check.target_db}:")
    print(f"  copied:  {tally.copied}")
    if tally.rebuilt:
        print(f"  {tally.rebuilt:>8}  of them too large for one RESTORE, written with commands")
    print(f"  skipped: {sum(tally.skipped.values())}")
    for reason, count in sorted(tally.skipped.items()):
        print(f"  {count:>8}  {reason}")
    print(f"  failed:  {sum(tally.failed.values())}")
    for reason, count in sorted(tally.failed.items()):
        print(f"  {count:>8}  {reason}")
    for line in tally.failed_keys:
        print(f"    {line}")
    if check.target_db is not None:
        print(f"  keys: {check.source_keys} in the source, {check.target_keys} on the target now")
        equal, sampled = sum(check.sample), len(check.sample)
        print(f"  verification: {equal} of {sampled} sampled keys hold the same value")


def run(args: argparse.Namespace) -> int:
    args.rng = random.Random(0)
    mapping = db_map(args.db_map)
    live = args.source.startswith(("redis://", "rediss://", "unix://"))
    if not live and not Path(args.source).is_file():
        raise SystemExit(f"{args.source}: neither a redis:// URL nor a file")
    state = State(args.resume, args.source)
    checks = (import_live if live else import_file)(args, state, mapping)
    _summary(state, checks)
    failed = any(state.databases[check.source_db].tally.failed for check in checks)
    return 0 if not failed and all(all(check.sample) for check in checks) else 1

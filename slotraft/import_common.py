"""What both sources of `slotraft import` share: the tally of outcomes, the --resume
state (one part per source database), the progress bar, where each source database goes
(plan) and the target's clients, one per database, and the pipelined RESTOREs (with the
fallback for values too large for one)."""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from proto.rdb.reader import FormatError
from slotraft.import_rebuild import rebuild

BUSYKEY = "BUSYKEY"
DATABASES = 16  # the target's databases, 0-15, as Redis has by default


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


class DatabaseState:
    """One source database's part of --resume: where it goes (None: not imported), how
    far its walk got (SCAN cursor, or its records done in the file) and its tally."""

    def __init__(self, target: int | None) -> None:
        self.target = target
        self.position = 0
        self.done = False
        self.tally = Tally()

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "position": self.position,
            "done": self.done,
            "tally": self.tally.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DatabaseState:
        state = cls(data["target"])
        state.position = data["position"]
        state.done = data["done"]
        state.tally = Tally.from_json(data["tally"])
        return state


class State:
    """What --resume keeps: the source, and each source database's DatabaseState."""

    def __init__(self, path: Path | None, source: str) -> None:
        self.path = path
        self.source = source
        self.databases: dict[int, DatabaseState] = {}
        if path is not None and path.exists():
            data = json.loads(path.read_text())
            if data["source"] != source:
                raise SystemExit(f"{path} is the state of an import from {data['source']}")
            if "databases" not in data:
                # One position for the whole source: which database it was in is unknown.
                raise SystemExit(
                    f"{path} is the state of an older slotraft import (database 0 only): "
                    "remove it to start again"
                )
            self.databases = {
                int(db): DatabaseState.from_json(entry) for db, entry in data["databases"].items()
            }

    def database(self, db: int, target: int | None) -> DatabaseState:
        """Source database `db`'s state, new or resumed. Resumed, it must go where it went
        before: half of it in one target database and half in another helps nobody (one
        left out before copied nothing, and may go anywhere now)."""
        state = self.databases.get(db)
        if state is None or state.target is None:
            state = self.databases[db] = DatabaseState(target)
        if state.target != target:
            raise SystemExit(
                f"{self.path}: source database {db} was being imported into "
                f"{_where(state.target)}, not {_where(target)}: give the same --db-map"
            )
        return state

    def save(self) -> None:
        if self.path is None:
            return
        data = {
            "source": self.source,
            "databases": {str(db): entry.to_json() for db, entry in self.databases.items()},
        }
        temporary = self.path.with_suffix(self.path.suffix + ".tmp")
        temporary.write_text(json.dumps(data))
        temporary.replace(self.path)


def _where(target: int | None) -> str:
    return "no database (left out by --db-map)" if target is None else f"database {target}"


class Progress:
    def __init__(self, db: int, total: int, quiet: bool) -> None:
        self.db = db
        self.total = max(total, 1)
        self.quiet = quiet

    def show(self, done: int, tally: Tally, final: bool = False) -> None:
        if self.quiet:
            return
        ratio = min(done / self.total, 1.0)
        bar = "#" * int(ratio * 30)
        line = (
            f"\rdb {self.db:<2} [{bar:<30}] {ratio:6.1%} {done}/{self.total} keys: "
            f"copied {tally.copied}, skipped {sum(tally.skipped.values())}, "
            f"failed {sum(tally.failed.values())}"
        )
        sys.stderr.write(line + ("\n" if final else ""))
        sys.stderr.flush()


def plan(source_dbs: Iterable[int], mapping: dict[int, int] | None) -> dict[int, int | None]:
    """Where each source database goes, in order; None: --db-map leaves it out. Without
    --db-map each goes into its own number, which must be one of the target's: else
    SystemExit, before anything is copied."""
    targets: dict[int, int | None] = {}
    for db in sorted(set(source_dbs)):
        if mapping is not None:
            targets[db] = mapping.get(db)
        elif 0 <= db < DATABASES:
            targets[db] = db
        else:
            raise SystemExit(
                f"source database {db}: the target has databases 0-{DATABASES - 1} "
                f"(--db-map {db}:N imports it into database N)"
            )
    return targets


def not_mapped_reason(db: int) -> str:
    return f"database {db}: not in --db-map"


def open_targets(args: Any, databases: Iterable[int]) -> dict[int, redis.Redis]:
    """A client for each target database (redis-py SELECTs it on every new connection),
    each tried with a PING: a target without that database, or without SELECT, stops
    the import before anything is copied rather than failing every key."""
    host, _, port = args.to.rpartition(":")
    clients: dict[int, redis.Redis] = {}
    for db in sorted(set(databases)):
        client = redis.Redis(
            host=host or "127.0.0.1", port=int(port), password=args.to_password, db=db
        )
        try:
            client.ping()
        except redis.exceptions.RedisError as error:
            raise SystemExit(f"--to {args.to}: database {db}: {error}") from None
        clients[db] = client
    return clients


def restore_batch(
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

"""What both sources of `slotraft import` share: the tally of outcomes, the --resume
state, the progress bar, the database mapping, and the pipelined RESTOREs (with the
fallback for values too large for one)."""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from proto.rdb.reader import FormatError
from slotraft.import_rebuild import rebuild

BUSYKEY = "BUSYKEY"


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


def db_map(entries: list[str]) -> dict[int, int]:
    mapping = {0: 0}
    for entry in entries:
        source, _, target = entry.partition(":")
        if not source.isdigit() or target != "0":
            raise SystemExit(f"--db-map {entry}: SRC:0 expected (slotraft has database 0 only)")
        mapping[int(source)] = 0
    return mapping


def other_db_reason(db: int) -> str:
    return f"database {db}: slotraft has database 0 only (--db-map {db}:0 imports it)"


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

"""`slotraft bench wal`: write-ahead log append+fsync throughput on this machine's disk.

Two parts. First, fsync per batch: one writer commits batches of 1, 16 and 256 entries (one
record per batch) and waits for each fsync. Second, group commit as a node runs it: many Raft
groups on one event loop, each with clients that propose an entry and wait until it is durable;
a group submits the entries proposed while its previous write was in flight (with its hard
state) to the node-wide group committer, whose writer thread covers every group with one fsync.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from node.raft.types import Entry, HardState
from node.storage.aio import AsyncGroupCommit
from node.storage.group_commit import Ticket
from node.storage.records import EntriesRecord, HardStateRecord, Record
from node.storage.store import NodeStorage

TARGET_SPEEDUP = 20.0


@dataclass(frozen=True, slots=True)
class Result:
    label: str
    entries: int
    fsyncs: int
    disk_bytes: int
    seconds: float

    def __add__(self, other: Result) -> Result:
        return Result(
            self.label,
            self.entries + other.entries,
            self.fsyncs + other.fsyncs,
            self.disk_bytes + other.disk_bytes,
            self.seconds + other.seconds,
        )

    @property
    def entries_per_second(self) -> float:
        return self.entries / self.seconds

    @property
    def megabytes_per_second(self) -> float:
        return self.disk_bytes / self.seconds / 1e6


class Progress:
    """One status line on stderr, redrawn in place on a terminal, printed once otherwise."""

    def __init__(self) -> None:
        self._live = sys.stderr.isatty()
        self._last_draw = 0.0

    def update(self, label: str, entries: int, elapsed: float, budget: float) -> None:
        now = time.monotonic()
        if not self._live or now - self._last_draw < 0.1:
            return
        self._last_draw = now
        bar = "#" * int(20 * min(elapsed / budget, 1.0))
        sys.stderr.write(f"\r  {label:<22} [{bar:<20}] {entries:>10,} entries")
        sys.stderr.flush()

    def start(self, label: str) -> None:
        if not self._live:
            sys.stderr.write(f"  running {label} ...\n")
            sys.stderr.flush()

    def done(self) -> None:
        if self._live:
            sys.stderr.write("\r" + " " * 70 + "\r")
            sys.stderr.flush()


def _entries(first: int, count: int, payload: bytes) -> list[Entry]:
    return [Entry(index=index, term=1, data=payload) for index in range(first, first + count)]


def fsync_per_batch(
    directory: Path, batch: int, payload: bytes, seconds: float, progress: Progress
) -> Result:
    """One writer, one record of `batch` entries per write, an fsync after each."""
    label = f"batch of {batch}"
    progress.start(label)
    storage, _ = NodeStorage.open(directory)
    wal = storage.wal
    written_before = wal.bytes_written
    next_index, fsyncs = 1, 0
    started = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds:
        storage.commit([EntriesRecord(1, _entries(next_index, batch, payload))])
        next_index += batch
        fsyncs += 1
        elapsed = time.perf_counter() - started
        progress.update(label, next_index - 1, elapsed, seconds)
    storage.close()
    progress.done()
    return Result(label, next_index - 1, fsyncs, wal.bytes_written - written_before, elapsed)


@dataclass(frozen=True, slots=True)
class Load:
    """`groups` Raft groups with `clients` clients each; a client proposes one entry and
    proposes the next once it is durable."""

    groups: int
    clients: int

    @property
    def label(self) -> str:
        return f"group commit {self.groups}x{self.clients}"


def parse_loads(text: str) -> list[Load]:
    loads = []
    for item in text.split(","):
        groups, _, clients = item.strip().partition("x")
        loads.append(Load(int(groups), int(clients or 1)))
    if any(load.groups < 1 or load.clients < 1 for load in loads):
        raise ValueError("groups and clients must be >= 1")
    return loads


class _Group:
    """One group as the node's loop drives it: entries proposed while its previous write is
    in flight go together in its next submission (one entries record plus its hard state, as a
    Ready would carry), submitted to the node-wide group committer."""

    __slots__ = (
        "acknowledged",
        "commit",
        "group_id",
        "in_flight",
        "next_index",
        "payload",
        "pending",
        "stopped",
    )

    def __init__(self, group_id: int, commit: AsyncGroupCommit, payload: bytes) -> None:
        self.group_id = group_id
        self.commit = commit
        self.payload = payload
        self.next_index = 1
        self.pending = 0  # entries proposed and not yet submitted
        self.in_flight = 0  # entries submitted and not yet durable
        self.acknowledged = 0
        self.stopped = False

    def propose(self, count: int) -> None:
        self.pending += count
        if not self.in_flight:
            self._submit()

    def _submit(self) -> None:
        first, count = self.next_index, self.pending
        self.next_index += count
        self.pending, self.in_flight = 0, count
        records: list[Record] = [
            EntriesRecord(self.group_id, _entries(first, count, self.payload)),
            HardStateRecord(self.group_id, HardState(term=1, vote=1, commit=first - 1)),
        ]
        self.commit.submit(records).add_done_callback(self._durable)

    def _durable(self, ticket: Ticket) -> None:
        if ticket.error is not None:
            raise ticket.error
        done, self.in_flight = self.in_flight, 0
        self.acknowledged += done
        if self.stopped:
            return
        if self.pending:
            self._submit()
        self.propose(done)  # each acknowledged client proposes its next entry


def group_commit(
    directory: Path, load: Load, payload: bytes, seconds: float, progress: Progress
) -> Result:
    progress.start(load.label)
    storage, _ = NodeStorage.open(directory)
    written_before = storage.wal.bytes_written

    async def run() -> tuple[int, int, float]:
        commit = AsyncGroupCommit(storage.commit)
        groups = [_Group(g, commit, payload) for g in range(load.groups)]
        started = time.perf_counter()
        for group in groups:
            group.propose(load.clients)
        elapsed = 0.0
        while elapsed < seconds:
            await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
            progress.update(load.label, sum(g.acknowledged for g in groups), elapsed, seconds)
        acknowledged = sum(g.acknowledged for g in groups)
        batches = commit.committer.batches
        for group in groups:
            group.stopped = True
        await commit.close()
        return acknowledged, batches, elapsed

    entries, fsyncs, elapsed = asyncio.run(run())
    storage.close()
    progress.done()
    return Result(load.label, entries, fsyncs, storage.wal.bytes_written - written_before, elapsed)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slotraft bench wal",
        description="WAL append+fsync throughput on this machine's disk: fsync per batch of "
        "1/16/256 entries, then group commit across many groups. Prints figures, asserts "
        "nothing.",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="directory to write in (default: a fresh temporary directory under /tmp, removed "
        "afterwards; pick one on the disk you want to measure)",
    )
    parser.add_argument(
        "--batch-sizes", default="1,16,256", help="comma-separated entries per fsync (1,16,256)"
    )
    parser.add_argument("--entry-bytes", type=int, default=100, help="entry payload (100)")
    parser.add_argument(
        "--group-commit",
        default="256x1,64x16",
        help="group-commit loads, comma-separated GROUPSxCLIENTS: GROUPS groups with CLIENTS "
        "clients each, every client waiting for its entry to be durable before proposing the "
        "next (default 256x1,64x16)",
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement (3)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="split each measurement into this many rounds, taken in turn with the other "
        "measurements, so that a disk whose speed drifts (other load) affects all alike (3)",
    )
    return parser


class _Measurement(Protocol):
    """A measurement with its parameters bound: it runs in `directory` for `seconds`."""

    def __call__(self, directory: Path, *, seconds: float) -> Result: ...


def main(argv: list[str]) -> int:
    options = build_parser().parse_args(argv)
    try:
        batches = [int(size) for size in options.batch_sizes.split(",") if size.strip()]
        loads = parse_loads(options.group_commit)
    except ValueError as error:
        print(f"bad --batch-sizes or --group-commit: {error}")
        return 2
    if not batches or min(batches) < 1 or options.entry_bytes < 0:
        print("batch sizes must be >= 1, --entry-bytes >= 0")
        return 2
    if options.dir is not None:
        options.dir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="slotraft-walbench-", dir=options.dir or "/tmp"))
    payload = b"v" * options.entry_bytes
    progress = Progress()
    print(
        f"WAL benchmark: Python {platform.python_version()}, {options.entry_bytes}-byte "
        f"entries, {options.seconds:g} s per measurement in {options.rounds} rounds, in {root}"
    )
    measurements: list[tuple[str, _Measurement]] = [
        (
            f"batch-{size}",
            functools.partial(fsync_per_batch, batch=size, payload=payload, progress=progress),
        )
        for size in batches
    ]
    measurements += [
        (
            f"group-{load.groups}x{load.clients}",
            functools.partial(group_commit, load=load, payload=payload, progress=progress),
        )
        for load in loads
    ]
    rounds = max(options.rounds, 1)
    totals: dict[str, Result] = {}
    try:
        for round_ in range(rounds):
            for name, measure in measurements:
                result = measure(root / f"{name}-{round_}", seconds=options.seconds / rounds)
                totals[name] = totals[name] + result if name in totals else result
                shutil.rmtree(root / f"{name}-{round_}", ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    results = list(totals.values())
    print(f"{'mode':<26} {'entries/s':>12} {'MB/s':>8} {'fsyncs/s':>9} {'entries/fsync':>13}")
    for result in results:
        print(
            f"{result.label:<26} {result.entries_per_second:>12,.0f} "
            f"{result.megabytes_per_second:>8.2f} {result.fsyncs / result.seconds:>9,.0f} "
            f"{result.entries / max(result.fsyncs, 1):>13,.1f}"
        )
    single = next((r for r in results if r.label == "batch of 1"), None)
    if single is not None:
        for result in results[len(batches) :]:
            speedup = result.entries_per_second / single.entries_per_second
            verdict = "meets" if speedup >= TARGET_SPEEDUP else "below"
            print(
                f"{result.label}: {speedup:,.1f}x the entries/s of fsync per entry "
                f"({verdict} the target of {TARGET_SPEEDUP:g}x)"
            )
    print("MB/s counts every byte written to the WAL (record headers included).")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The router's metrics and its log of what happens to shards.

`CommandMetrics`: per command, the calls, the error replies and a histogram of end-to-end
latency (from the first byte of a batch of requests read off the connection to its replies
being written), updated in plain ints by the sessions and read at scrape time by
`router.metrics_export.RouterCollector`.

`ShardEvents`: what the cluster backend sees happen to a shard: a leader confirmed by an
answer (a new one is a leader change), a request retried, a request given up on
(-CLUSTERDOWN). Counted for the metrics and logged, each kind at most one line per shard per
`interval`: the first at once, the ones after it in one line at the end of the interval, so
a failover leaves a trace in the log and a retry storm of any size adds one line per shard
per interval.
"""

from __future__ import annotations

import asyncio
import logging
import operator
import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from proto.commands import Unresolved, lookup, resolve
from proto.histogram import LATENCY_BUCKETS, Histogram

log = logging.getLogger("slotraft.router.events")

UNKNOWN_COMMAND = "unknown"  # never the client's spelling: labels must stay few
EVENT_LOG_INTERVAL_S = 5.0
_ERROR_FIRST_BYTES = frozenset(b"-!")  # RESP simple error, RESP3 blob error
_FIRST_BYTE = operator.itemgetter(0)
# Redis tracks at most this many distinct error codes (INFO errorstats).
MAX_ERROR_CODES = 128
# Errors that refuse a command before it runs (Redis's rejected_calls): the router's
# checks and the nodes' refusals; every other error is a failed call.
_REJECTIONS = (
    b"ERR wrong number of arguments",
    b"ERR unknown subcommand",
    b"NOAUTH",
    b"NOPERM",
    b"OOM",
    b"CROSSSLOT",
    b"CLUSTERDOWN",
    b"MOVED",
    b"ASK",
    b"TRYAGAIN",
    b"BUSY",
    b"LOADING",
    b"MISCONF",
    b"READONLY",
    b"NOSCRIPT",
    b"EXECABORT",
)
# Fine latency buckets: by the bit length of the latency in ns, each split in 8, so a
# percentile is known within an eighth of a power of two.
FINE_BUCKETS = 65 * 8  # bit lengths 0..64


def fine_bucket(elapsed: float) -> int:
    nanoseconds = int(elapsed * 1e9)
    length = nanoseconds.bit_length()
    if length < 4:
        return length << 3
    return (length << 3) | ((nanoseconds >> (length - 4)) & 7)


def fine_upper_ns(bucket: int) -> int:
    """The largest latency (ns) a fine bucket holds."""
    length, part = bucket >> 3, bucket & 7
    if length < 4:
        return (1 << length) - 1
    return (1 << (length - 1)) + ((part + 1) << (length - 4)) - 1


class CommandStats(Histogram):
    """One command's latency histogram (its count is the command's calls), its error
    replies (those that refused it: `rejected`), and its latencies in fine buckets (INFO
    latencystats, LATENCY HISTOGRAM)."""

    __slots__ = ("errors", "fine", "rejected")

    def __init__(self) -> None:
        super().__init__(LATENCY_BUCKETS)
        self.errors = 0
        self.rejected = 0
        self.fine = [0] * FINE_BUCKETS


class CommandMetrics:
    def __init__(self) -> None:
        self.by_name: dict[str, CommandStats] = {}
        # Error replies by their code (the first word: ERR, WRONGTYPE, ...), INFO errorstats.
        self.error_codes: dict[bytes, int] = {}

    def record(self, names: list[str], replies: list[bytes], started: float) -> float:
        """The replies of one batch, about to be written; names[i] is replies[i]'s command,
        `started` (time.monotonic) when the batch's first request came in; returns the
        batch's latency (s). Per batch: one clock read and two bucket searches; per command
        only C-level scans, when the batch is of one command (a single request, or a
        pipeline of one command: most traffic) without errors."""
        if not names:
            return 0.0
        elapsed = time.monotonic() - started
        bucket = bisect_left(LATENCY_BUCKETS, elapsed)
        fine = fine_bucket(elapsed)
        name = names[0]
        size = len(names)
        if size == 1 or names.count(name) == size:
            stats = self.by_name.get(name) or self._add(name)
            stats.counts[bucket] += size
            stats.fine[fine] += size
            stats.total += elapsed * size
            if size == 1:
                reply = replies[0]
                if reply and reply[0] in _ERROR_FIRST_BYTES:
                    self._error(stats, reply)
            else:
                try:
                    firsts = bytes(map(_FIRST_BYTE, replies))
                except IndexError:  # an empty reply: none is, but then count one by one
                    firsts = bytes(reply[0] if reply else 0 for reply in replies)
                if firsts.count(45) + firsts.count(33):  # - and !
                    for reply in replies:
                        if reply and reply[0] in _ERROR_FIRST_BYTES:
                            self._error(stats, reply)
            return elapsed
        for name, reply in zip(names, replies):
            stats = self.by_name.get(name) or self._add(name)
            stats.counts[bucket] += 1
            stats.fine[fine] += 1
            stats.total += elapsed
            if reply and reply[0] in _ERROR_FIRST_BYTES:
                self._error(stats, reply)
        return elapsed

    def _error(self, stats: CommandStats, reply: bytes) -> None:
        stats.errors += 1
        text = error_text(reply)
        if text.startswith(_REJECTIONS):
            stats.rejected += 1
        code = text.split(b" ", 1)[0]
        codes = self.error_codes
        if code in codes:
            codes[code] += 1
        elif len(codes) < MAX_ERROR_CODES:
            codes[code] = 1

    def _add(self, name: str) -> CommandStats:
        stats = self.by_name[name] = CommandStats()
        return stats


def error_text(reply: bytes) -> bytes:
    """An encoded error reply's text (RESP simple error or RESP3 blob error)."""
    if reply[:1] == b"!":
        start = reply.find(b"\r\n") + 2
        return reply[start : len(reply) - 2]
    end = reply.find(b"\r\n")
    return reply[1:end] if end >= 0 else reply[1:]


def command_name(args: list[bytes]) -> str:
    """The name a request is counted under: its spec's (`client|list` for a subcommand, the
    container's for an unknown subcommand), `unknown` for an unknown command."""
    if not args:
        return UNKNOWN_COMMAND
    spec = resolve(args)
    if isinstance(spec, Unresolved):  # an unknown subcommand or a wrong argument count
        found = lookup(args[0])
        return found.name if found is not None else UNKNOWN_COMMAND
    return spec.name


# ---------------------------------------------------------------------- shard events

Scheduler = Callable[[float, Callable[[], None]], Any]


def _call_later(delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
    return asyncio.get_running_loop().call_later(delay, callback)


@dataclass(slots=True)
class _Window:
    """A kind of event on one shard, logged once at its start: how many came after."""

    count: int = 0
    last: str = ""


class ShardEvents:
    def __init__(
        self, interval: float = EVENT_LOG_INTERVAL_S, schedule: Scheduler = _call_later
    ) -> None:
        self.interval = interval
        self.schedule = schedule
        self.leaders: dict[int, int] = {}  # shard -> the node last confirmed as its leader
        self.leader_changes: dict[int, int] = {}
        self.retries: dict[int, int] = {}
        self.failures: dict[int, int] = {}  # requests answered -CLUSTERDOWN by the retry loop
        self._windows: dict[tuple[str, int], _Window] = {}

    def confirm_leader(self, shard: int, node: int) -> None:
        """`node` answered a linearizable request of `shard`: it leads it."""
        previous = self.leaders.get(shard, 0)
        if previous == node:
            return
        self.leaders[shard] = node
        if previous:
            self.leader_changes[shard] = self.leader_changes.get(shard, 0) + 1
            self._note("leader changes", shard, f"leader is node {node} (was node {previous})")
        else:  # once per shard: it must not hold back the line of a change soon after
            log.info("shard %d: leader is node %d", shard, node)

    def retry(self, shard: int, problem: str, hint: int = 0) -> None:
        """A request to `shard` is tried again after `problem` (a node named the leader,
        `hint`, if not 0)."""
        self.retries[shard] = self.retries.get(shard, 0) + 1
        named = f", which names node {hint} the leader" if hint else ""
        self._note("retries", shard, f"a request is retried after {problem}{named}")

    def gave_up(self, shard: int, why: str) -> None:
        """A request to `shard` got -CLUSTERDOWN: no leader served it in time."""
        self.failures[shard] = self.failures.get(shard, 0) + 1
        self._note("requests failed (CLUSTERDOWN)", shard, why, logging.WARNING)

    def _note(self, kind: str, shard: int, what: str, level: int = logging.INFO) -> None:
        key = (kind, shard)
        window = self._windows.get(key)
        if window is not None:
            window.count += 1
            window.last = what
            return
        log.log(level, "shard %d: %s", shard, what)
        self._windows[key] = _Window()
        self.schedule(self.interval, lambda: self._close(key, level))

    def _close(self, key: tuple[str, int], level: int) -> None:
        window = self._windows.get(key)
        if window is None:
            return
        if not window.count:
            del self._windows[key]  # quiet for a whole interval: the next one logs at once
            return
        kind, shard = key
        log.log(
            level,
            "shard %d: %d more %s in the last %g s; the last: %s",
            shard,
            window.count,
            kind,
            self.interval,
            window.last,
        )
        window.count = 0
        self.schedule(self.interval, lambda: self._close(key, level))

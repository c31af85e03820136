"""The state of the router's introspection commands, kept by the router's context:
SLOWLOG's log (router/slowlog.py) and LATENCY's monitor (router/latency.py).

A command's time is that of its batch (the commands a connection sent together), from the
first byte read off the connection to the replies being written: consensus, fsyncs and
retries included."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from typing import NamedTuple

from proto.commands import TABLE, Flag
from router.redaction import REDACTING_LENGTHS, redacted

MAX_ARGS = 32  # SLOWLOG_ENTRY_MAX_ARGC
MAX_STRING = 128  # SLOWLOG_ENTRY_MAX_STRING
REDACTED = b"(redacted)"

_SPECS = {
    spec.name: spec
    for container in TABLE.values()
    for spec in (container, *container.subcommands.values())
}
# Timed by the latency monitor as "fast-command" (Redis's fast flag), others as "command".
FAST_COMMANDS = frozenset(name for name, spec in _SPECS.items() if spec.flags & Flag.FAST)
# Neither logged nor sampled: a blocking command waits by design (Redis logs its run once
# unblocked, not its wait). EXEC is logged (Redis logs the commands inside it one by one;
# here they run as one log entry of their shard, timed as one).
NOT_MONITORED = frozenset(name for name, spec in _SPECS.items() if spec.is_blocking)


class SlowlogEntry(NamedTuple):
    # A tuple, not a frozen dataclass: a slow batch logs each of its commands, and a
    # frozen dataclass's __init__ cost several times a tuple's.
    id: int
    time: int  # unix seconds
    duration: int  # µs
    args: tuple[bytes, ...]
    peer: bytes
    name: bytes


_FIRST = itemgetter(0)
_new_tuple = tuple.__new__  # a NamedTuple from its fields, without its Python-level __new__


class Slowlog:
    """SLOWLOG's entries, newest first. Under load every batch can pass the threshold (a
    batch's time includes consensus and fsyncs), so a batch's commands are logged as one
    record (`_pending`) when none needs cutting or redacting: a few C-level passes over
    the batch instead of an entry per command. Records become entries when the entries
    are read, or once they hold twice `max_len` commands."""

    def __init__(self) -> None:
        self._entries: deque[SlowlogEntry] = deque()  # newest first
        # (first id, unix time, µs, commands as tuples, peer, client name), oldest first.
        self._pending: list[tuple[int, int, int, list[tuple[bytes, ...]], bytes, bytes]] = []
        self._pending_count = 0
        self.next_id = 0
        self.slower_than_us = 10_000  # -1: off, 0: every command
        self.max_len = 128

    @property
    def entries(self) -> deque[SlowlogEntry]:
        """Every entry, newest first (what SLOWLOG GET and LEN read; trimmed by popping)."""
        if self._pending:
            self._expand()
        return self._entries

    def push(self, args: list[bytes], duration_us: int, peer: str, name: bytes) -> None:
        """One command (a batch of one: every request at -P 1): logged at once."""
        if self.slower_than_us < 0 or duration_us < self.slower_than_us:
            return
        entry_id = self.next_id
        self.next_id += 1
        if self.max_len <= 0:
            self.reset()
            return
        now = int(time.time())
        logged = _logged_args(args)
        peer_bytes = peer.encode()
        if self._pending:  # after them: as a record too
            self._pending.append((entry_id, now, duration_us, [logged], peer_bytes, name))
            self._pending_count += 1
            if self._pending_count > 2 * self.max_len:
                self._expand()
            return
        entries = self._entries
        entries.appendleft(
            _new_tuple(SlowlogEntry, (entry_id, now, duration_us, logged, peer_bytes, name))
        )
        while len(entries) > self.max_len:
            entries.pop()

    def push_batch(
        self, commands: list[list[bytes]], duration_us: int, peer: str, name: bytes
    ) -> None:
        """The commands of one slow batch, in order, as `push` of each would log them.
        Only the last max_len can outlive this call, so only those are kept (the ids of
        the others are used all the same); the clock and the peer are read once."""
        if self.slower_than_us < 0 or duration_us < self.slower_than_us or not commands:
            return
        first_id = self.next_id
        self.next_id += len(commands)
        if self.max_len <= 0:
            self.reset()
            return
        kept = commands[-self.max_len :]
        first_id += len(commands) - len(kept)
        now = int(time.time())
        peer_bytes = peer.encode()
        if _as_given(kept):
            self._pending.append(
                (first_id, now, duration_us, list(map(tuple, kept)), peer_bytes, name)
            )
            self._pending_count += len(kept)
            if self._pending_count > 2 * self.max_len:
                self._expand()
            return
        if self._pending:
            self._expand()
        entries = self._entries
        for offset, args in enumerate(kept):
            fields = (first_id + offset, now, duration_us, _logged_args(args), peer_bytes, name)
            entries.appendleft(_new_tuple(SlowlogEntry, fields))
        while len(entries) > self.max_len:
            entries.pop()

    def _expand(self) -> None:
        """The pending records as entries: only the newest max_len are built."""
        fresh: list[SlowlogEntry] = []  # newest first
        wanted = self.max_len
        for first_id, now, duration_us, kept, peer, name in reversed(self._pending):
            for offset in range(len(kept) - 1, -1, -1):
                if len(fresh) >= wanted:
                    break
                fields = (first_id + offset, now, duration_us, kept[offset], peer, name)
                fresh.append(_new_tuple(SlowlogEntry, fields))
        self._pending.clear()
        self._pending_count = 0
        entries = self._entries
        entries.extendleft(reversed(fresh))
        while len(entries) > max(wanted, 0):
            entries.pop()

    def reset(self) -> None:
        self._pending.clear()
        self._pending_count = 0
        self._entries.clear()


def _as_given(commands: list[list[bytes]]) -> bool:
    """Whether every command is logged as it is (no redaction, no argument cut or elided),
    in C-level passes: no command empty or over MAX_ARGS arguments, none with a first word
    of AUTH's, HELLO's or CONFIG's length, no argument over MAX_STRING bytes."""
    return (
        min(map(len, commands)) >= 1
        and max(map(len, commands)) <= MAX_ARGS
        and REDACTING_LENGTHS.isdisjoint(map(len, map(_FIRST, commands)))
        and max(map(len, chain.from_iterable(commands))) <= MAX_STRING
    )


def _logged_args(args: list[bytes]) -> tuple[bytes, ...]:
    count = len(args)
    # Most commands: nothing to redact (no name of a redacting length), to
    # cut or to elide.
    if count and len(args[0]) not in REDACTING_LENGTHS:
        if count <= MAX_ARGS and max(map(len, args)) <= MAX_STRING:
            return tuple(args)
    else:
        args = redacted(args, REDACTED)
    shown = args[: MAX_ARGS - 1] if count > MAX_ARGS else args
    out = [
        arg[:MAX_STRING] + b"... (%d more bytes)" % (len(arg) - MAX_STRING)
        if len(arg) > MAX_STRING
        else arg
        for arg in shown
    ]
    if count > MAX_ARGS:
        out.append(b"... (%d more arguments)" % (count - MAX_ARGS + 1))
    return tuple(out)


SAMPLES_KEPT = 160  # LATENCY_TS_LEN


@dataclass(slots=True)
class EventSeries:
    samples: list[tuple[int, int]] = field(default_factory=list)  # (unix time, ms), oldest first
    max: int = 0


class LatencyMonitor:
    def __init__(self) -> None:
        self.threshold_ms = 0
        self.events: dict[str, EventSeries] = {}

    def add(self, event: str, latency_ms: int, now: int | None = None) -> None:
        if not self.threshold_ms or latency_ms < self.threshold_ms:
            return
        now = int(time.time()) if now is None else now
        series = self.events.get(event)
        if series is None:
            series = self.events[event] = EventSeries()
        series.max = max(series.max, latency_ms)
        samples = series.samples
        if samples and samples[-1][0] == now:
            if latency_ms > samples[-1][1]:
                samples[-1] = (now, latency_ms)
            return
        samples.append((now, latency_ms))
        if len(samples) > SAMPLES_KEPT:
            del samples[0]

    def reset(self, events: list[str] | None = None) -> int:
        if events is None:
            count = len(self.events)
            self.events.clear()
            return count
        return sum(self.events.pop(event, None) is not None for event in events)


def observe(
    slowlog: Slowlog,
    monitor: LatencyMonitor,
    names: list[str],
    commands: list[list[bytes]],
    elapsed: float,
    peer: str,
    client_name: bytes,
) -> None:
    """A batch that took `elapsed` seconds: each of its commands goes to the slowlog and
    the latency monitor if it reaches their thresholds."""
    duration_us = int(elapsed * 1_000_000)
    latency_ms = int(elapsed * 1000)
    if len(names) == 1:  # every request at -P 1: no set or batch checks
        name = names[0]
        if name not in NOT_MONITORED:
            slowlog.push(commands[0], duration_us, peer, client_name)
            monitor.add("fast-command" if name in FAST_COMMANDS else "command", latency_ms)
        return
    if NOT_MONITORED.isdisjoint(names):
        logged = commands
        kinds = {"fast-command" if name in FAST_COMMANDS else "command" for name in set(names)}
    else:
        monitored = [
            (name, args) for name, args in zip(names, commands) if name not in NOT_MONITORED
        ]
        logged = [args for _, args in monitored]
        kinds = {"fast-command" if name in FAST_COMMANDS else "command" for name, _ in monitored}
    slowlog.push_batch(logged, duration_us, peer, client_name)
    for kind in sorted(kinds):
        monitor.add(kind, latency_ms)


# ---------------------------------------------------------------------- INFO stats rates

SAMPLES = 16  # STATS_METRIC_SAMPLES: the rates are averages over the last 1.6 s


@dataclass(slots=True)
class Rate:
    """An instantaneous rate: the average of the last SAMPLES per-second rates."""

    last_value: int = 0
    last_time: float = 0.0
    samples: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLES))

    def sample(self, value: int, now: float) -> None:
        if self.last_time:
            elapsed = now - self.last_time
            if elapsed > 0:
                self.samples.append((value - self.last_value) / elapsed)
        self.last_value, self.last_time = value, now

    @property
    def per_second(self) -> float:
        return sum(self.samples) / len(self.samples) if self.samples else 0.0


@dataclass(slots=True)
class Rates:
    commands: Rate = field(default_factory=Rate)
    input_bytes: Rate = field(default_factory=Rate)
    output_bytes: Rate = field(default_factory=Rate)

    def sample(self, commands: int, input_bytes: int, output_bytes: int, now: float) -> None:
        self.commands.sample(commands, now)
        self.input_bytes.sample(input_bytes, now)
        self.output_bytes.sample(output_bytes, now)

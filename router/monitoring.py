"""The state of the router's introspection commands, kept by the router's context:
SLOWLOG's log (router/slowlog.py) and LATENCY's monitor (router/latency.py).

A command's time is that of its batch (the commands a connection sent together), from the
first byte read off the connection to the replies being written: consensus, fsyncs and
retries included."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from proto.commands import TABLE, Flag
from proto.redis_config import lookup

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


@dataclass(frozen=True, slots=True)
class SlowlogEntry:
    id: int
    time: int  # unix seconds
    duration: int  # µs
    args: tuple[bytes, ...]
    peer: bytes
    name: bytes


class Slowlog:
    def __init__(self) -> None:
        self.entries: deque[SlowlogEntry] = deque()  # newest first
        self.next_id = 0
        self.slower_than_us = 10_000  # -1: off, 0: every command
        self.max_len = 128

    def push(self, args: list[bytes], duration_us: int, peer: str, name: bytes) -> None:
        if self.slower_than_us < 0 or duration_us < self.slower_than_us:
            return
        self.entries.appendleft(
            SlowlogEntry(
                self.next_id,
                int(time.time()),
                duration_us,
                _logged_args(args),
                peer.encode(),
                name,
            )
        )
        self.next_id += 1
        while len(self.entries) > self.max_len:
            self.entries.pop()

    def reset(self) -> None:
        self.entries.clear()


def _logged_args(args: list[bytes]) -> tuple[bytes, ...]:
    args = _redacted(args)
    count = len(args)
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


def _redacted(args: list[bytes]) -> list[bytes]:
    """Passwords replaced as Redis redacts them: AUTH's arguments, HELLO's AUTH pair, ACL
    SETUSER's, CONFIG SET of a sensitive parameter."""
    name = args[0].lower() if args else b""
    if name == b"auth":
        return [args[0], *[REDACTED] * (len(args) - 1)]
    if name == b"hello":
        out = list(args)
        for position in range(2, len(args)):
            if args[position].lower() == b"auth":
                for secret in range(position + 1, min(position + 3, len(out))):
                    out[secret] = REDACTED
        return out
    if name == b"acl" and len(args) > 2 and args[1].lower() == b"setuser":
        # aclCommand redacts the user and every rule (passwords among them).
        return [args[0], args[1], *[REDACTED] * (len(args) - 2)]
    if name == b"config" and len(args) > 2 and args[1].lower() == b"set":
        out = list(args)
        for position in range(2, len(args) - 1, 2):
            parameter = lookup(args[position].decode("latin-1"))
            if parameter is not None and parameter.sensitive:
                out[position + 1] = REDACTED
        return out
    return args


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
    kinds = set()
    for name, args in zip(names, commands):
        if name in NOT_MONITORED:
            continue
        slowlog.push(args, duration_us, peer, client_name)
        kinds.add("fast-command" if name in FAST_COMMANDS else "command")
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

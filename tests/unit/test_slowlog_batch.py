"""A slow batch logged at once (Slowlog.push_batch, monitoring.observe) leaves the slowlog
as logging its commands one by one did."""

from __future__ import annotations

import random
from collections import deque

import pytest

from router.monitoring import LatencyMonitor, Slowlog, SlowlogEntry, _logged_args, observe

COMMANDS = [[b"SET", b"k%d" % number, b"v" * (number % 3 * 100)] for number in range(150)] + [
    [b"AUTH", b"user", b"secret"],
    [b"HELLO", b"3", b"AUTH", b"user", b"secret"],
    [b"CONFIG", b"SET", b"requirepass", b"secret"],
    [b"MSET", *[b"x"] * 40],
    [],
]


class Reference:
    """The slowlog's rule read plainly: an entry per command, the newest max_len kept."""

    def __init__(self) -> None:
        self.entries: deque[SlowlogEntry] = deque()
        self.next_id = 0
        self.slower_than_us = 10_000
        self.max_len = 128

    def push(self, args: list[bytes], duration_us: int, peer: str, name: bytes) -> None:
        if self.slower_than_us < 0 or duration_us < self.slower_than_us:
            return
        entry = SlowlogEntry(self.next_id, 0, duration_us, _logged_args(args), peer.encode(), name)
        self.entries.appendleft(entry)
        self.next_id += 1
        while len(self.entries) > self.max_len:
            self.entries.pop()


def one_by_one(commands: list[list[bytes]], max_len: int, threshold: int) -> Reference:
    log = Reference()
    log.max_len = max_len
    log.slower_than_us = threshold
    log.next_id = 7
    for args in commands:
        log.push(args, 20_000, "127.0.0.1:5000", b"name")
    return log


@pytest.mark.parametrize("max_len", [0, 1, 5, 128, 1000])
@pytest.mark.parametrize("threshold", [-1, 0, 10_000, 30_000])
def test_batch_equals_one_by_one(max_len: int, threshold: int) -> None:
    batch = Slowlog()
    batch.max_len = max_len
    batch.slower_than_us = threshold
    batch.next_id = 7
    batch.push_batch(COMMANDS, 20_000, "127.0.0.1:5000", b"name")
    single = one_by_one(COMMANDS, max_len, threshold)
    strip = [entry._replace(time=0) for entry in batch.entries]
    assert strip == list(single.entries)
    assert batch.next_id == single.next_id


def test_logged_args_redacted_and_cut() -> None:
    log = Slowlog()
    log.slower_than_us = 0
    log.push_batch(COMMANDS[-5:], 1, "peer", b"")
    by_first = {entry.args[0] if entry.args else b"": entry.args for entry in log.entries}
    assert by_first[b"AUTH"] == (b"AUTH", b"(redacted)", b"(redacted)")
    assert by_first[b"HELLO"][-2:] == (b"(redacted)", b"(redacted)")
    assert by_first[b"CONFIG"][-1] == b"(redacted)"
    assert by_first[b"MSET"][-1] == b"... (10 more arguments)"
    assert len(by_first[b"MSET"]) == 32
    long = Slowlog()
    long.slower_than_us = 0
    long.push([b"SET", b"k", b"v" * 200], 1, "peer", b"")
    assert long.entries[0].args[2] == b"v" * 128 + b"... (72 more bytes)"


def test_observe_skips_blocking_commands() -> None:
    log = Slowlog()
    log.slower_than_us = 0
    monitor = LatencyMonitor()
    monitor.threshold_ms = 1
    names = ["set", "blpop", "get"]
    commands = [[b"SET", b"a", b"1"], [b"BLPOP", b"l", b"0"], [b"GET", b"a"]]
    observe(log, monitor, names, commands, 0.5, "peer", b"")
    assert [entry.args[0] for entry in log.entries] == [b"GET", b"SET"]
    assert sorted(monitor.events) == ["command", "fast-command"]


def test_random_batches_reads_and_resizes() -> None:
    """Batches kept as records and batches built at once, read and resized in between
    (CONFIG SET slowlog-max-len pops what is over), as pushing one by one leaves them."""
    rng = random.Random(3)
    batched, single = Slowlog(), Reference()
    for step in range(400):
        size = rng.choice([1, 1, 2, 16, 60])
        commands = [rng.choice(COMMANDS) for _ in range(size)]
        max_len = rng.choice([0, 3, 10, 128])
        threshold = rng.choice([-1, 0, 10_000])
        for log in (batched, single):
            if step % 50 == 49:
                log.max_len = max_len
                while len(log.entries) > log.max_len:
                    log.entries.pop()
            if step % 97 == 0:
                log.slower_than_us = threshold
        if size == 1 and rng.random() < 0.5:
            batched.push(commands[0], 20_000, "peer", b"n")  # a request of one command
        else:
            batched.push_batch(commands, 20_000, "peer", b"n")
        for args in commands:
            single.push(args, 20_000, "peer", b"n")
        if rng.random() < 0.1:
            assert _untimed(batched) == _untimed(single)
    assert _untimed(batched) == _untimed(single)
    assert batched.next_id == single.next_id


def _untimed(log: Slowlog | Reference) -> list[SlowlogEntry]:
    return [entry._replace(time=0) for entry in log.entries]


def test_observe_one_command() -> None:
    log = Slowlog()
    log.slower_than_us = 0
    monitor = LatencyMonitor()
    monitor.threshold_ms = 1
    observe(log, monitor, ["blpop"], [[b"BLPOP", b"l", b"0"]], 0.5, "peer", b"")
    assert not log.entries and not monitor.events
    observe(log, monitor, ["get"], [[b"GET", b"a"]], 0.5, "peer", b"")
    observe(log, monitor, ["set"], [[b"SET", b"a", b"1"]], 0.5, "peer", b"")
    assert [entry.args[0] for entry in log.entries] == [b"SET", b"GET"]
    assert [entry.id for entry in log.entries] == [1, 0]
    assert sorted(monitor.events) == ["command", "fast-command"]

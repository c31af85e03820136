"""A slow batch logged at once (Slowlog.push_batch, monitoring.observe) leaves the slowlog
as logging its commands one by one did."""

from __future__ import annotations

import pytest

from router.monitoring import LatencyMonitor, Slowlog, observe

COMMANDS = [
    [b"SET", b"k%d" % number, b"v" * (number % 3 * 100)] for number in range(150)
] + [
    [b"AUTH", b"user", b"secret"],
    [b"HELLO", b"3", b"AUTH", b"user", b"secret"],
    [b"CONFIG", b"SET", b"requirepass", b"secret"],
    [b"MSET", *[b"x"] * 40],
    [],
]


def one_by_one(commands: list[list[bytes]], max_len: int, threshold: int) -> Slowlog:
    log = Slowlog()
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
    assert strip == [entry._replace(time=0) for entry in single.entries]
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

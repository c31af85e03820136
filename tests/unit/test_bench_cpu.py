"""The cluster benchmark's CPU accounting (/proc/<pid>/stat) and the line it prints."""

from __future__ import annotations

import os
import time

from slotraft.benchmarks.cluster import cpu_line, cpu_per_request, cpu_seconds


def test_cpu_seconds_of_this_process_grow_with_work():
    before = cpu_seconds(os.getpid())
    assert before is not None
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass
    after = cpu_seconds(os.getpid())
    assert after is not None and after > before


def test_cpu_seconds_of_a_process_that_is_gone_is_unknown():
    assert cpu_seconds(2**22 + 12345) is None


def test_the_cpu_line_gives_microseconds_per_request_for_each_process_measured_twice():
    per_request = cpu_per_request(
        {"node 1": 1.0, "router 1": 2.0}, {"node 1": 1.5, "router 1": 3.0, "node 2": 9.0}, 100_000
    )
    assert per_request == {"node 1": 5.0, "router 1": 10.0}
    line = cpu_line(per_request)
    assert "node 1 5.0, router 1 10.0; total 15.0" in line
    assert line.endswith("one core per process: at most 100,000/s (router 1)")


def test_each_round_divides_by_the_redis_runs_around_it(monkeypatch, capsys):
    """Redis runs at 100, 300, 500 (the machine speeds up); slotraft's runs between them at
    20 and 40: the ratios are 20/200 and 40/400, not skewed by the drift."""
    import argparse

    from slotraft.benchmarks import cluster as bench

    speeds = {7000: iter([100.0, 300.0, 500.0]), 7001: iter([20.0, 40.0])}
    monkeypatch.setattr(
        bench, "redis_benchmark", lambda port, test, *rest: {test: next(speeds[port])}
    )
    used = iter([{"node 1": 1.0}, {"node 1": 1.5}, {"node 1": 2.0}, {"node 1": 3.0}])
    monkeypatch.setattr(bench, "cluster_cpu", lambda cluster: next(used))
    args = argparse.Namespace(requests=100_000, clients=50, rounds=2, profile=None)
    # No cluster: cluster_cpu, its only user, is replaced above.
    bench.measure_pair(args, None, 7001, 7000, "SET", 16)  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert "(0.10, 0.10)" in out
    assert "0.10" in out.splitlines()[0]
    assert "node 1 7.5" in out  # (0.5 + 1.0) s over 200,000 requests

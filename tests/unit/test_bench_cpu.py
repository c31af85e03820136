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

"""Histograms kept in plain ints, for hot paths: updated in place by their owner and read
at scrape time (proto/metrics.py exports them). No dependency, no lock."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

# Seconds: from 50 µs (a router's answer to a cached read) to 10 s (a request retried
# through an election, a snapshot of a large shard).
LATENCY_BUCKETS: tuple[float, ...] = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


# Bytes: 1 KiB to 4 GiB by fours (a snapshot, a shard's memory).
SIZE_BUCKETS: tuple[float, ...] = tuple(float(1024 * 4**power) for power in range(12))


class Histogram:
    """Observations counted per bucket (bucket i: at most bounds[i]; the last: above all),
    and their sum. Updated by one thread at a time; read at scrape time."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, float]]:
        """(le, observations at most le) per bucket, +Inf last: Prometheus's form."""
        buckets: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts):
            running += count
            buckets.append((_bound_text(bound), running))
        return buckets


def _bound_text(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))

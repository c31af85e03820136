"""The simulated network: batches of messages between nodes with delays, loss, duplication,
reordering (independent random delays) and partitions (a set of blocked directed links,
checked when a batch is delivered)."""

from __future__ import annotations

import heapq
import random

from node.raft.messages import Message


class SimNetwork:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.blocked: set[tuple[int, int]] = set()
        self.drop_rate = 0.0
        self.duplicate_rate = 0.0
        self.min_delay = 1
        self.max_delay = 5
        self.long_delay_rate = 0.0  # a batch that takes up to 10x max_delay (reordering)
        self._queue: list[tuple[int, int, int, int, list[Message]]] = []
        self._sequence = 0
        self.delivered = 0
        self.dropped = 0

    def calm(self) -> None:
        self.blocked.clear()
        self.drop_rate = 0.0
        self.duplicate_rate = 0.0
        self.long_delay_rate = 0.0
        self.max_delay = max(self.min_delay, min(self.max_delay, 8))

    def _delay(self) -> int:
        rng = self.rng
        delay = rng.randint(self.min_delay, self.max_delay)
        if self.long_delay_rate and rng.random() < self.long_delay_rate:
            delay += rng.randint(0, 10 * self.max_delay)
        return delay

    def send(self, now: int, src: int, dst: int, batch: list[Message]) -> None:
        rng = self.rng
        if self.drop_rate:
            kept = [m for m in batch if rng.random() >= self.drop_rate]
            self.dropped += len(batch) - len(kept)
            batch = kept
            if not batch:
                return
        copies = 2 if self.duplicate_rate and rng.random() < self.duplicate_rate else 1
        for _ in range(copies):
            self._sequence += 1
            heapq.heappush(self._queue, (now + self._delay(), self._sequence, src, dst, batch))

    def due(self, now: int) -> list[tuple[int, list[Message]]]:
        """The batches that arrive at `now`, as (destination, batch)."""
        queue = self._queue
        arrived: list[tuple[int, list[Message]]] = []
        while queue and queue[0][0] <= now:
            _, _, src, dst, batch = heapq.heappop(queue)
            if (src, dst) in self.blocked:
                self.dropped += len(batch)
                continue
            self.delivered += len(batch)
            arrived.append((dst, batch))
        return arrived

"""Linearizable reads on the leader: ReadIndex and the leader lease.

Both rest on stamps. A leader stamps every AppendEntries, Heartbeat and InstallSnapshot it
sends with `stamp`, which only grows while it leads: the high bits are its tick count, the
low bits count ReadIndex requests within a tick. A follower that accepts the message in
the leader's term echoes the stamp. So "a quorum echoed stamp s" means a quorum was still
following this leader in its term when it received a message sent at s.

ReadIndex (Raft dissertation 6.4): a read that arrives at the leader takes the commit index
(the leader has committed an entry in its term, so that index covers every write
acknowledged before) and the next stamp s; the leader makes sure each voter gets a message
stamped >= s (a heartbeat round, unless appends go out anyway). Once a quorum echoed s, no
other leader could have been elected before the read arrived, and the read is answered as
(context, index): safe once the state machine applied `index`.

Lease (dissertation 6.4.1): a voter refuses to vote for anyone for `election_ticks` of its
own ticks after it heard from the leader (and after it starts). If a quorum echoed a stamp
sent at leader tick t, no other leader can exist before the leader's tick t + lease_ticks
as long as clocks drift no more than `max_clock_drift` (see `RaftConfig.lease_ticks`), so a
read arriving before that is answered at once with the current commit index. A leader that
started a leadership transfer stops using its lease for the rest of its term: the transfer
target's forced campaign does not honour leases.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

# The low bits count read rounds within one tick (at most one per Ready cycle: far below
# 2^24); the high bits hold the tick, which at 20 ms per tick fills the 40 bits left of a
# uint64 after 700 years (at a shift of 32 it overflowed the wire's uint64 after 2.7).
STAMP_SHIFT = 24


def stamp_at_tick(tick: int) -> int:
    return tick << STAMP_SHIFT


def tick_of(stamp: int) -> int:
    return stamp >> STAMP_SHIFT


@dataclass(frozen=True, slots=True)
class ReadState:
    """A read is linearizable once the state machine has applied `index`."""

    context: bytes
    index: int


class PendingReads:
    """ReadIndex requests waiting for a quorum to echo their stamp, oldest first (so their
    stamps never decrease)."""

    __slots__ = ("_queue",)

    def __init__(self) -> None:
        self._queue: deque[tuple[int, int, bytes]] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, stamp: int, index: int, context: bytes) -> None:
        self._queue.append((stamp, index, context))

    def first_stamp(self) -> int:
        return self._queue[0][0]

    def release(self, quorum_stamp: int, out: list[ReadState]) -> None:
        """Move every read whose stamp a quorum echoed to `out`."""
        queue = self._queue
        while queue and queue[0][0] <= quorum_stamp:
            _, index, context = queue.popleft()
            out.append(ReadState(context, index))

    def drop_all(self) -> list[bytes]:
        contexts = [context for _, _, context in self._queue]
        self._queue.clear()
        return contexts

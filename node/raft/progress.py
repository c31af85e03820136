"""What a leader knows about one follower, and the flow control of what it sends it.

States (as in etcd-io/raft's tracker):
- PROBE: the leader does not know where the follower's log matches its own; it sends one
  AppendEntries and waits for the answer (or the next heartbeat answer) before another.
- REPLICATE: the follower is known to match up to `match`; the leader streams appends
  optimistically (`next` runs ahead of `match`) with at most `max_inflight` unacknowledged.
- SNAPSHOT: the entries the follower needs were compacted; the leader sends its snapshot in
  chunks, at most `max_inflight_chunks` unacknowledged, then goes back to PROBE.
"""

from __future__ import annotations

import enum
from collections import deque


class ProgressState(enum.IntEnum):
    PROBE = 0
    REPLICATE = 1
    SNAPSHOT = 2


PROBE = ProgressState.PROBE
REPLICATE = ProgressState.REPLICATE
SNAPSHOT = ProgressState.SNAPSHOT


class Progress:
    __slots__ = (
        "acked_stamp",
        "inflight",
        "is_learner",
        "match",
        "max_inflight",
        "next",
        "probe_sent",
        "recent_active",
        "rejoin_floor",
        "rejoining",
        "sent_commit",
        "sent_stamp",
        "snap_acked",
        "snap_done_sent",
        "snap_idle",
        "snap_index",
        "snap_inflight",
        "snap_sent",
        "state",
    )

    def __init__(self, next_index: int, max_inflight: int, is_learner: bool) -> None:
        self.match = 0
        self.next = next_index
        self.state = PROBE
        self.probe_sent = False
        self.inflight: deque[int] = deque()  # last index of each append in flight
        self.max_inflight = max_inflight
        self.is_learner = is_learner
        self.recent_active = True
        self.acked_stamp = -1  # the highest stamp the follower echoed in this term
        self.sent_stamp = -1  # the stamp of the last message sent to it
        self.sent_commit = 0  # the commit index last sent to it
        # It holds its votes (VoteHold): it counts towards nothing until released; our commit
        # index when we learnt it (a release needs a later one).
        self.rejoining = False
        self.rejoin_floor = 0
        self.snap_index = 0  # SNAPSHOT: the index of the snapshot being sent
        self.snap_sent = 0  # bytes sent
        self.snap_acked = 0  # bytes the follower confirmed
        self.snap_inflight = 0  # chunks sent and not answered
        self.snap_done_sent = False
        self.snap_idle = 0  # heartbeat answers since the snapshot transfer last progressed

    def paused(self) -> bool:
        state = self.state
        if state == REPLICATE:
            return len(self.inflight) >= self.max_inflight
        if state == PROBE:
            return self.probe_sent
        return True

    def become_probe(self) -> None:
        if self.state == SNAPSHOT:
            # The follower may have installed the snapshot; if not, its answer says so.
            self.next = max(self.match + 1, self.snap_index + 1)
        else:
            self.next = self.match + 1
        self.state = PROBE
        self.probe_sent = False
        self.inflight.clear()

    def forget_to(self, index: int) -> None:
        """The follower lost what it had acknowledged after `index`: probe from there."""
        self.match = index
        self.next = index + 1
        self.state = PROBE
        self.probe_sent = False
        self.inflight.clear()

    def distrust(self) -> None:
        """The follower may have lost what it acknowledged: its match counts again from
        what it acknowledges now (probing at `next`)."""
        self.match = 0
        self.state = PROBE
        self.probe_sent = False
        self.inflight.clear()

    def become_replicate(self) -> None:
        self.state = REPLICATE
        self.next = self.match + 1
        self.probe_sent = False
        self.inflight.clear()

    def become_snapshot(self, index: int) -> None:
        self.state = SNAPSHOT
        self.snap_index = index
        self.snap_sent = 0
        self.snap_acked = 0
        self.snap_inflight = 0
        self.snap_done_sent = False
        self.snap_idle = 0
        self.inflight.clear()

    def rewind_snapshot(self, offset: int) -> None:
        """Send the snapshot again from `offset` (chunks were lost or the follower lost them)."""
        self.snap_sent = offset
        self.snap_acked = offset
        self.snap_inflight = 0
        self.snap_done_sent = False
        self.snap_idle = 0

    def maybe_update(self, index: int) -> bool:
        """An acknowledgement that the follower matches up to `index`."""
        updated = False
        if self.match < index:
            self.match = index
            updated = True
            self.probe_sent = False
        if self.next < index + 1:
            self.next = index + 1
        return updated

    def maybe_decrease(self, rejected: int, match_hint: int) -> bool:
        """A rejection of the append whose previous entry was `rejected`; `match_hint` is the
        largest index that may still match. False if the rejection is stale."""
        if self.state == REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.state == SNAPSHOT or self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), self.match + 1)
        self.probe_sent = False
        return True

    def free_inflight_to(self, index: int) -> None:
        inflight = self.inflight
        while inflight and inflight[0] <= index:
            inflight.popleft()

"""Configuration of one Raft replica."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RaftConfig:
    """All replicas of a group must use the same election_ticks, pre_vote, check_quorum,
    lease_reads and max_clock_drift: the lease is only sound if every voter honours it.

    Ticks are the only clock. `election_ticks` is the minimum election timeout (a follower
    waits a random number of ticks in [election_ticks, 2 * election_ticks) without hearing
    from a leader before campaigning); `heartbeat_ticks` is the leader's heartbeat period.

    Lease reads assume that every node's tick rate stays within `max_clock_drift` (a
    fraction, 0.05 = 5 %) of real time. Under that assumption a leader may answer reads
    without a heartbeat round for `lease_ticks` after a quorum acknowledged one of its
    messages, because no voter that acknowledged it grants a vote to anyone else for
    `election_ticks` of its own ticks (see `node.raft.readonly`). Check-quorum or lease reads
    make voters refuse votes in that window (and for election_ticks after they start).
    The caller must derive ticks from a monotonic clock and, after the process was stalled
    (GC pause, SIGSTOP, a blocked loop), deliver every missed tick before it hands out reads:
    a leader whose ticks lag real time would trust a lease that has run out.
    """

    node_id: int
    group_id: int = 0
    election_ticks: int = 10
    heartbeat_ticks: int = 2
    pre_vote: bool = True
    check_quorum: bool = True
    lease_reads: bool = True
    max_clock_drift: float = 0.05
    max_append_entries: int = 1024  # entries per AppendEntries message
    max_append_bytes: int = 1 << 20  # payload bytes per AppendEntries (at least one entry)
    max_inflight_appends: int = 64  # AppendEntries in flight per follower when replicating
    # True (as etcd): a commit index that advanced goes to the followers at once, on an
    # AppendEntries of its own if no entries are due. False: it rides on the next
    # AppendEntries that carries entries, or goes at the next tick if none did; under load
    # that halves the appends and their answers (the nodes run with False).
    eager_commit: bool = True
    snapshot_chunk_bytes: int = 1 << 20
    max_inflight_snapshot_chunks: int = 4
    compaction_lag: int = 512  # entries kept before a snapshot index for slow followers

    def __post_init__(self) -> None:
        if self.node_id <= 0:
            raise ValueError("node_id must be positive (0 means 'nobody')")
        if self.heartbeat_ticks < 1 or self.election_ticks <= self.heartbeat_ticks:
            raise ValueError("need 1 <= heartbeat_ticks < election_ticks")
        if not 0 <= self.max_clock_drift < 1:
            raise ValueError("max_clock_drift must be in [0, 1)")
        for name in (
            "max_append_entries",
            "max_append_bytes",
            "max_inflight_appends",
            "snapshot_chunk_bytes",
            "max_inflight_snapshot_chunks",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.compaction_lag < 0:
            raise ValueError("compaction_lag must not be negative")

    @property
    def lease_ticks(self) -> int:
        """How long (in the leader's ticks) a quorum acknowledgement keeps the lease: the
        largest L with L / (1 - drift) <= (election_ticks - 1) / (1 + drift). A voter refuses
        votes for at least (election_ticks - 1) of its ticks after it received the message
        (the first tick may come at once), which at a tick rate up to (1 + drift) is that
        much real time; the leader's L ticks last at most L / (1 - drift) real time after
        the send. 0 disables lease reads."""
        if not self.lease_reads:
            return 0
        drift = self.max_clock_drift
        return int((self.election_ticks - 1) * (1 - drift) / (1 + drift))

    @property
    def guards_lease(self) -> bool:
        """Whether voters refuse votes while they have recently heard from a leader."""
        return self.check_quorum or self.lease_reads

"""The parameters of one simulated run, all drawn from its seed."""

from __future__ import annotations

import random
from dataclasses import dataclass

TICK_UNITS = 10  # simulated time units per tick of a node whose clock runs at rate 1


@dataclass(frozen=True, slots=True)
class SimParams:
    seed: int
    nodes: int
    groups: int
    steps: int  # time units with faults; then the faults heal and liveness is checked
    replicas: int
    election_ticks: int
    heartbeat_ticks: int
    pre_vote: bool
    check_quorum: bool
    lease_reads: bool
    max_clock_drift: float  # configured bound; every node's tick rate stays within it
    max_append_entries: int
    max_inflight_appends: int
    snapshot_chunk_bytes: int
    compaction_lag: int
    compact_every: int  # a replica snapshots its state machine after this many applies
    write_rate: float  # client writes per time unit
    read_rate: float
    nemesis_every: int  # mean time units between fault actions
    disk_latency: int  # max time units an fsync takes
    eager_commit: bool = False  # False as the nodes run: commit indexes ride on appends
    wipe_disks: bool = False  # the nemesis may also wipe a node's disk (VoteHold)
    adversary_rate: float = 0.0  # adversarial shard entries (into group 1) per time unit
    # The nemesis moves replicas by placement (tests/sim/placement.py) instead of making
    # random membership changes.
    placement_moves: bool = False

    @classmethod
    def from_seed(cls, seed: int, nodes: int = 5, groups: int = 3, steps: int = 3000) -> SimParams:
        rng = random.Random(f"params-{seed}")
        return cls(
            seed=seed,
            nodes=nodes,
            groups=groups,
            steps=steps,
            replicas=min(3, nodes),
            election_ticks=rng.choice((6, 10, 10, 16)),
            heartbeat_ticks=rng.choice((1, 2, 2, 3)),
            pre_vote=rng.random() < 0.75,
            check_quorum=rng.random() < 0.75,
            lease_reads=rng.random() < 0.6,
            max_clock_drift=rng.choice((0.0, 0.02, 0.05, 0.1)),
            max_append_entries=rng.choice((1, 4, 64, 1024)),
            max_inflight_appends=rng.choice((1, 2, 8, 64)),
            snapshot_chunk_bytes=rng.choice((16, 64, 256, 1 << 16)),
            compaction_lag=rng.choice((0, 2, 10, 50)),
            compact_every=rng.choice((5, 20, 50, 200)),
            write_rate=rng.choice((0.02, 0.1, 0.3)),
            read_rate=rng.choice((0.01, 0.05, 0.2)),
            nemesis_every=rng.choice((40, 120, 300)),
            disk_latency=rng.choice((1, 3, 8)),
            eager_commit=rng.random() < 0.25,  # drawn late: earlier seeds keep their draws
            wipe_disks=rng.random() < 0.4,
            adversary_rate=rng.choice((0.0, 0.01, 0.02, 0.05)),
            placement_moves=rng.random() < 0.5,  # drawn last: earlier draws stay as they were
        )

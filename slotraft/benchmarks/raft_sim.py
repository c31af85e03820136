"""Committed Raft entries per second in the simulation (no I/O): one group of 3 replicas,
and many groups on 3 nodes sharing one MultiRaft per node.

Each cycle every leader proposes a batch of entries, then every node hands out its ready
(persistence is free here), the messages of each node go to the others in one batch per
destination, and committed entries are counted when the leader applies them. Leaders keep
proposing while earlier batches are in flight (pipelining). Figures are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable

from node.raft import MultiRaft, RaftConfig, Role, bootstrap_state
from node.raft.messages import Message
from node.raft.ready_policy import ReadyPolicy

NODES = (1, 2, 3)


class Progress:
    """A one-line progress display on stderr."""

    def __init__(self, label: str, total: int, stream: object = sys.stderr) -> None:
        self.label = label
        self.total = total
        self.stream = stream
        self.started = time.perf_counter()
        self._last = 0.0

    def update(self, done: int, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        width = 30
        filled = min(width, int(width * done / self.total)) if self.total else width
        rate = done / max(now - self.started, 1e-9)
        bar = "#" * filled + "." * (width - filled)
        self.stream.write(f"\r  {self.label} [{bar}] {done:,}/{self.total:,} {rate:,.0f}/s")  # type: ignore[attr-defined]
        self.stream.flush()  # type: ignore[attr-defined]

    def finish(self) -> None:
        self.update(self.total, force=True)
        self.stream.write("\n")  # type: ignore[attr-defined]


class SimCluster:
    def __init__(self, groups: int, max_inflight: int, max_entries: int, seed: int) -> None:
        self.hosts = {n: MultiRaft(n, random.Random(seed * 10 + n)) for n in NODES}
        boot = bootstrap_state(NODES)
        for group in range(1, groups + 1):
            for node_id, host in self.hosts.items():
                config = RaftConfig(
                    node_id=node_id,
                    group_id=group,
                    max_inflight_appends=max_inflight,
                    max_append_entries=max_entries,
                )
                host.add_group(config, boot)
        self.inbox: dict[int, list[Message]] = {n: [] for n in NODES}
        self.policies = {n: ReadyPolicy() for n in NODES}
        self.applied = 0  # entries applied by leaders

    def cycle(self) -> None:
        for node_id, host in self.hosts.items():
            inbox = self.inbox[node_id]
            if inbox:
                self.inbox[node_id] = []
                host.step(inbox)
        for node_id, host in self.hosts.items():
            if not host.has_ready():
                continue
            # The node's own Ready policy (node/raft/ready_policy.py); the disk is free here,
            # so the write it asks for is durable at once.
            plan = self.policies[node_id].plan(host.ready())
            for dst, messages in plan.early.items():
                self.inbox[dst].extend(messages)
            for group, ready in plan.batch.groups.items():
                if ready.committed_entries and host.group(group).role is Role.LEADER:
                    self.applied += len(ready.committed_entries)
            for dst, messages in plan.late.items():
                self.inbox[dst].extend(messages)
            host.advance(plan.batch)

    def tick(self) -> None:
        for host in self.hosts.values():
            host.tick()

    def leaders(self) -> dict[int, int]:
        found = {}
        for node_id, host in self.hosts.items():
            for raft in host:
                if raft.role is Role.LEADER:
                    found[raft.group] = node_id
        return found

    def elect_and_spread(self, groups: int) -> None:
        """Run until every group has a leader, then move leaderships round-robin."""
        for _ in range(10_000):
            if len(self.leaders()) == groups:
                break
            self.tick()
            for _ in range(3):
                self.cycle()
        wanted = {group: NODES[(group - 1) % len(NODES)] for group in range(1, groups + 1)}
        for group, node_id in self.leaders().items():
            if wanted[group] != node_id:
                self.hosts[node_id].group(group).transfer_leader(wanted[group])
        for _ in range(200):
            if self.leaders() == wanted:
                break
            self.tick()
            for _ in range(3):
                self.cycle()
        if len(self.leaders()) != groups:
            raise RuntimeError("not every group elected a leader")


def measure(
    label: str,
    groups: int,
    entries: int,
    batch: int,
    payload: int,
    max_inflight: int,
    max_entries: int,
    seed: int,
    ticks_every: int,
    show: Callable[[str], None],
) -> float:
    cluster = SimCluster(groups, max_inflight, max_entries, seed)
    cluster.elect_and_spread(groups)
    leaders = [
        cluster.hosts[node].group(group) for group, node in sorted(cluster.leaders().items())
    ]
    data = bytes(payload)
    progress = Progress(label, entries)
    base = cluster.applied
    proposed = 0
    started = time.perf_counter()
    cycles = 0
    while cluster.applied - base < entries:
        if proposed < entries:
            for leader in leaders:
                propose = leader.propose
                for _ in range(batch):
                    propose(data)
                proposed += batch
        cluster.cycle()
        cycles += 1
        if cycles % ticks_every == 0:
            cluster.tick()
        progress.update(cluster.applied - base)
    elapsed = time.perf_counter() - started
    progress.finish()
    committed = cluster.applied - base
    rate = committed / elapsed
    show(
        f"{label}: {rate:,.0f} committed entries/s ({committed:,} entries of {payload} B in "
        f"{elapsed:.2f} s, batch {batch} per leader per cycle)"
    )
    return rate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slotraft bench raft_sim",
        description="Committed entries/s of the Raft core in simulation (no I/O).",
    )
    parser.add_argument("--entries", type=int, default=300_000, help="entries to commit per run")
    parser.add_argument("--batch", type=int, default=256, help="proposals per cycle, one group")
    parser.add_argument(
        "--group-batches",
        default="4,16,64",
        help="proposals per leader per cycle in the multi-group runs (comma-separated)",
    )
    parser.add_argument("--payload", type=int, default=64, help="bytes per entry")
    parser.add_argument("--groups", type=int, default=64, help="groups for the multi-group runs")
    parser.add_argument("--max-inflight", type=int, default=64)
    parser.add_argument("--max-append-entries", type=int, default=1024)
    parser.add_argument("--ticks-every", type=int, default=20, help="cycles per tick")
    parser.add_argument("--seed", type=int, default=1)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    common = {
        "entries": args.entries,
        "payload": args.payload,
        "max_inflight": args.max_inflight,
        "max_entries": args.max_append_entries,
        "seed": args.seed,
        "ticks_every": args.ticks_every,
        "show": print,
    }
    print("Raft core in simulation (no I/O, persistence free, messages delivered in memory)")
    measure("1 group x 3 replicas", groups=1, batch=args.batch, **common)
    for batch in (int(b) for b in args.group_batches.split(",") if b):
        label = f"{args.groups} groups on 3 nodes"
        measure(label, groups=args.groups, batch=batch, **common)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One simulated cluster: nodes hosting replicas of several groups (MultiRaft), a simulated
disk each, the network, clients, the nemesis and the checkers, in virtual time.

Each time unit: the nemesis may act, due batches arrive, then every live node steps what
arrived, advances its clock (ticks at its own drifting rate), completes an fsync that is
due (then sends that Ready's messages, applies, answers reads) or starts the next one.
Clients propose writes and start reads on leaders; the checkers run on every replica.
After `steps` units all faults heal, and every group must elect a leader and commit a new
entry on all its members within a bounded time (liveness): since the new entry comes after
everything in the leader's log, what the leader held of the earlier proposals commits too.

Clocks: a node ticks every TICK_UNITS / rate time units, and every node's rate stays within
[1 - max_clock_drift, 1 + max_clock_drift] of real time (re-drawn now and then by the
nemesis). That is the bounded-drift assumption lease reads rely on (RaftConfig.lease_ticks);
the linearizability checker is there to catch a lease that outlives it.

Checks run after every time unit on every replica that did something in it (a replica that
neither received, ticked, persisted nor was called cannot have changed).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass

from node.engine.digest import digests
from node.raft import (
    EntryType,
    MultiRaft,
    MultiReady,
    NotLeader,
    RaftConfig,
    RaftError,
    RaftNode,
    ReadState,
    RestoredState,
    Role,
    Snapshot,
    VoteHold,
    bootstrap_state,
)
from node.raft.confchange import ConfChangeType, decode
from node.raft.ready_policy import ReadyPlan, ReadyPolicy
from tests.sim.adversary import Adversary
from tests.sim.app import ShardApp, write_command
from tests.sim.checkers import Checker, SafetyViolation
from tests.sim.disk import SimDisk
from tests.sim.nemesis import Nemesis
from tests.sim.network import SimNetwork
from tests.sim.params import TICK_UNITS, SimParams
from tests.sim.placement import PlacementDriver

KEYS = ("a", "b", "c")
ADVERSARY_EPOCH_MS = 1_700_000_000_000
ADVERSARY_WATCH_KEYS = [b"k1", b"k2", b"{t}a"]
LIVENESS_ELECTION_TIMEOUTS = 40
# However it keeps progressing, every group must finish within this many windows.
LIVENESS_MAX_WINDOWS = 10


class LivenessViolation(AssertionError):
    pass


@dataclass(slots=True)
class PendingRead:
    group: int
    key: str
    floor: int
    node_id: int


class SimNode:
    def __init__(self, node_id: int, rate: float) -> None:
        self.id = node_id
        self.up = True
        self.rate = rate
        self.phase = 0.0
        self.disk = SimDisk()
        self.multi: MultiRaft | None = None
        self.apps: dict[int, ShardApp] = {}
        self.snapshot_index: dict[int, int] = {}
        self.inbox: list[list] = []
        self.policy = ReadyPolicy()
        self.syncing: ReadyPlan | None = None
        self.sync_done_at = 0
        self.waiting_reads: list[tuple[int, ReadState]] = []
        self.dirty = True  # something happened that may have given a replica work

    def held(self) -> bool:
        return self.disk.rejoining


class Simulation:
    def __init__(self, params: SimParams, policy: Callable[[], ReadyPolicy] = ReadyPolicy) -> None:
        """`policy` makes each node's Ready policy: the node's own (node/raft/ready_policy),
        or in tests a broken one that the checkers must catch."""
        self.params = params
        self.make_policy = policy
        seed = params.seed
        self.rng = random.Random(f"sim-{seed}")
        self.client_rng = random.Random(f"clients-{seed}")
        self.disk_rng = random.Random(f"disk-{seed}")
        self.network = SimNetwork(random.Random(f"network-{seed}"))
        self.checker = Checker()
        self.now = 0
        self.reads: dict[bytes, PendingRead] = {}
        self.leader_hint: dict[int, int] = {}
        self.hosts: dict[int, set[int]] = {g: set() for g in range(1, params.groups + 1)}
        self._sequence = 0
        self._removals: list[tuple[int, int, int]] = []  # (node, group, entry index)
        self._removed: set[tuple[int, int]] = set()  # (group, entry index) handled
        self.added_at: dict[tuple[int, int], int] = {}  # (group, node) -> index of its add
        self.clients_active = True
        # The adversarial client: shard log entries into group 1 (tests/sim/adversary.py),
        # from its own random source so that the other draws stay as they were.
        self.adversary_rng = random.Random(f"adversary-{seed}")
        self.adversary = Adversary(self.adversary_rng)
        # False only to show that the checkers catch what a wiped replica does unheld.
        self.hold_wiped_votes = True
        self.nodes = {i: SimNode(i, self.random_rate()) for i in range(1, params.nodes + 1)}
        for node in self.nodes.values():
            node.multi = MultiRaft(node.id, random.Random(f"raft-{seed}-{node.id}-0"))
            node.policy = policy()
        self.initial_voters: dict[int, tuple[int, ...]] = {}
        for group in self.hosts:
            voters = tuple(sorted(self.rng.sample(sorted(self.nodes), params.replicas)))
            self.initial_voters[group] = voters
            boot = bootstrap_state(voters)
            for node_id in voters:
                self.create_replica(self.nodes[node_id], group, boot)
        self.nemesis = Nemesis(self, random.Random(f"nemesis-{seed}"))
        self.placement = PlacementDriver(self, random.Random(f"placement-{seed}"))

    # -- configuration ---------------------------------------------------------------------

    def config(self, node_id: int, group: int) -> RaftConfig:
        p = self.params
        return RaftConfig(
            node_id=node_id,
            group_id=group,
            election_ticks=p.election_ticks,
            heartbeat_ticks=p.heartbeat_ticks,
            pre_vote=p.pre_vote,
            check_quorum=p.check_quorum,
            lease_reads=p.lease_reads,
            max_clock_drift=p.max_clock_drift,
            max_append_entries=p.max_append_entries,
            max_inflight_appends=p.max_inflight_appends,
            snapshot_chunk_bytes=p.snapshot_chunk_bytes,
            compaction_lag=p.compaction_lag,
            eager_commit=p.eager_commit,
        )

    def random_rate(self) -> float:
        drift = self.params.max_clock_drift
        return 1.0 + self.rng.uniform(-drift, drift)

    # -- replicas --------------------------------------------------------------------------

    def create_replica(
        self, node: SimNode, group: int, restored: RestoredState | None = None
    ) -> RaftNode:
        """Host a replica of `group` on `node` (from its tombstoned disk state if it had one)."""
        disk = node.disk.groups.get(group)
        if disk is not None:
            disk.tombstone = False
            restored = disk.restored()
        else:
            restored = restored or RestoredState()
            node.disk.create(group, restored)
        assert node.multi is not None
        raft = node.multi.add_group(self.config(node.id, group), restored)
        node.policy.restored(group, restored.hard_state)
        node.dirty = True
        app = ShardApp()
        if restored.snapshot is not None:
            app.restore(restored.snapshot)
        node.apps[group] = app
        node.snapshot_index[group] = restored.snapshot.meta.index if restored.snapshot else 0
        self.hosts[group].add(node.id)
        return raft

    def destroy_replica(self, node_id: int, group: int) -> None:
        """The replica was removed from its group: stop it, keep its disk as a tombstone."""
        node = self.nodes[node_id]
        disk = node.disk.groups.get(group)
        if disk is not None:
            disk.tombstone = True
        self.hosts[group].discard(node_id)
        if node.up and node.multi is not None and group in node.multi:
            node.multi.remove_group(group)
            node.apps.pop(group, None)
            node.waiting_reads = [(g, rs) for g, rs in node.waiting_reads if g != group]

    def replica(self, node_id: int, group: int) -> RaftNode | None:
        node = self.nodes[node_id]
        if not node.up or node.multi is None:
            return None
        return node.multi.get(group)

    def membership_settled(self) -> bool:
        """Every group's live replicas agree on its membership, and no change is pending."""
        for group, hosts in self.hosts.items():
            replicas = [r for r in (self.replica(n, group) for n in sorted(hosts)) if r]
            if len({r.conf for r in replicas}) > 1:
                return False
            if any(r._pending_conf_index > r.log.committed for r in replicas):
                return False
        return True

    def leader_of(self, group: int) -> RaftNode | None:
        hint = self.leader_hint.get(group)
        raft = self.replica(hint, group) if hint else None
        if raft is not None and raft.role is Role.LEADER:
            return raft
        return None

    # -- crashes ---------------------------------------------------------------------------

    def crash(self, node_id: int) -> None:
        node = self.nodes[node_id]
        if not node.up:
            return
        node.up = False
        node.disk.crash(self.disk_rng)
        node.multi = None
        node.apps = {}
        node.inbox = []
        node.syncing = None
        node.waiting_reads = []
        self.reads = {ctx: r for ctx, r in self.reads.items() if r.node_id != node_id}

    def wipe(self, node_id: int) -> None:
        """Crash the node and lose its disk. It hosts the same groups when it restarts, each
        from what a node starts with: the group's first state if it was an initial voter
        (as a real node bootstraps from its cluster description), else nothing."""
        self.crash(node_id)
        node = self.nodes[node_id]
        hosted = [group for group, disk in node.disk.groups.items() if not disk.tombstone]
        node.disk = SimDisk()
        for group in hosted:
            voters = self.initial_voters[group]
            node.disk.create(
                group, bootstrap_state(voters) if node_id in voters else RestoredState()
            )
        node.disk.rejoining = True

    def restart(self, node_id: int) -> None:
        node = self.nodes[node_id]
        if node.up:
            return
        node.up = True
        node.phase = 0.0
        self._sequence += 1
        node.multi = MultiRaft(
            node_id, random.Random(f"raft-{self.params.seed}-{node_id}-{self._sequence}")
        )
        node.policy = self.make_policy()
        if node.disk.rejoining and self.hold_wiped_votes:
            node.multi.hold_votes(VoteHold.UNTIL_CAUGHT_UP)
        for group, disk in sorted(node.disk.groups.items()):
            if not disk.tombstone:
                self.create_replica(node, group)

    # -- running ---------------------------------------------------------------------------

    def run(self) -> None:
        for _ in range(self.params.steps):
            self.step()
        self.heal_and_check_liveness()

    def step(self) -> None:
        now = self.now
        self.nemesis.act(now)
        nodes = self.nodes
        for dst, batch in self.network.due(now):
            node = nodes[dst]
            if node.up:
                node.inbox.append(batch)
        touched = []
        for node in nodes.values():
            if node.up and self._run_node(node):
                touched.append(node)
        if self._removals:
            removals, self._removals = self._removals, []
            for node_id, group, index in removals:
                # Once per removal entry (replicas re-apply it after restarts), and only if
                # the replica was not added back by a later entry.
                if (group, index) not in self._removed:
                    self._removed.add((group, index))
                    if self.added_at.get((group, node_id), 0) < index:
                        self.destroy_replica(node_id, group)
        if self.params.placement_moves:
            self.placement.drive()
        self._clients()
        for node in touched:
            if node.up:
                self._check(node)
        self.now = now + 1

    def _run_node(self, node: SimNode) -> bool:
        """One time unit of a node; whether anything happened to its replicas."""
        multi = node.multi
        assert multi is not None
        touched = False
        if node.inbox:
            for batch in node.inbox:
                multi.step(batch)  # messages for groups it does not host are dropped
            node.inbox = []
            touched = True
        node.phase += node.rate
        while node.phase >= TICK_UNITS:
            node.phase -= TICK_UNITS
            multi.tick()
            touched = True
        if node.syncing is not None and self.now >= node.sync_done_at:
            self._finish_sync(node)
            touched = True
        if touched:
            node.dirty = True
        if node.syncing is None and node.dirty:
            node.dirty = False
            if multi.has_ready():
                self._start_sync(node)
        return touched

    def _start_sync(self, node: SimNode) -> None:
        """Steps 1-3 of the Ready policy (node/raft/ready_policy.py), as a node runs them:
        start the write, send what may leave early, apply. The fsync ends later (the disk's
        latency); a crash meanwhile keeps a random prefix of the write."""
        multi = node.multi
        assert multi is not None
        batch = multi.ready()
        for group, ready in batch.groups.items():
            if ready.entries:
                self.checker.on_entries(group, multi.group(group), ready.entries)
        plan = node.policy.plan(batch)
        for write in plan.writes:
            node.disk.write_group(write)
        node.syncing = plan
        for dst, messages in plan.early.items():
            self.network.send(self.now, node.id, dst, messages)
        self._apply(node, batch)
        if node.disk.has_unsynced():
            node.sync_done_at = self.now + self.rng.randint(1, self.params.disk_latency)
        else:
            self._finish_sync(node)

    def _apply(self, node: SimNode, batch: MultiReady) -> None:
        checker = self.checker
        for group, ready in batch.groups.items():
            app = node.apps.get(group)
            if app is None:
                continue
            if ready.snapshot is not None:
                app.restore(ready.snapshot)
                checker.on_snapshot(group, node.id, ready.snapshot, app.canonical())
                node.snapshot_index[group] = ready.snapshot.meta.index
            for entry in ready.committed_entries:
                state = app.apply(entry)
                checker.on_apply(group, node.id, entry)
                if state is not None:
                    checker.on_state(group, node.id, entry.index, state)
                if entry.type is EntryType.CONF_CHANGE:
                    change = decode(entry.data)
                    if change.type is ConfChangeType.REMOVE_NODE:
                        self._removals.append((change.node_id, group, entry.index))
            for read_state in ready.read_states:
                node.waiting_reads.append((group, read_state))
            for context in ready.dropped_reads:
                self.reads.pop(context, None)
        if node.waiting_reads:
            self._serve_reads(node)

    def _finish_sync(self, node: SimNode) -> None:
        """Steps 4-6: the write is durable; send what had to wait for it, advance."""
        plan = node.syncing
        multi = node.multi
        assert plan is not None and multi is not None
        node.disk.sync()
        node.syncing = None
        for dst, messages in plan.late.items():
            self.network.send(self.now, node.id, dst, messages)
        multi.advance(plan.batch)
        if node.waiting_reads:
            self._serve_reads(node)
        self._maybe_compact(node)

    def _serve_reads(self, node: SimNode) -> None:
        waiting = []
        for group, state in node.waiting_reads:
            app = node.apps.get(group)
            if app is None:
                continue
            if app.applied < state.index:
                waiting.append((group, state))
                continue
            read = self.reads.pop(state.context, None)
            if read is None:
                continue
            _, observed = app.read(read.key)
            self.checker.on_read(group, node.id, read.key, read.floor, observed, "linearizable")
        node.waiting_reads = waiting

    def _maybe_compact(self, node: SimNode) -> None:
        multi = node.multi
        assert multi is not None
        every = self.params.compact_every
        for group, app in node.apps.items():
            if app.applied - node.snapshot_index.get(group, 0) < every:
                continue
            raft = multi.group(group)
            data = app.serialize()
            meta = raft.compact(app.applied, data)
            if meta is None:
                continue
            snapshot = Snapshot(meta, data)
            self.checker.on_snapshot(group, node.id, snapshot, app.canonical())
            node.disk.write_snapshot(group, snapshot)
            node.snapshot_index[group] = meta.index

    # -- clients ---------------------------------------------------------------------------

    def client_target(self, group: int) -> RaftNode | None:
        leader = self.leader_of(group)
        if leader is not None:
            return leader
        hosts = sorted(self.hosts[group])
        if not hosts:
            return None
        return self.replica(self.client_rng.choice(hosts), group)

    def _clients(self) -> None:
        if not self.clients_active:
            return
        rng = self.client_rng
        params = self.params
        if self.adversary_rng.random() < params.adversary_rate:
            self._adversarial_proposal()
        if rng.random() < params.write_rate:
            group = rng.randint(1, params.groups)
            raft = self.client_target(group)
            if raft is not None:
                self._sequence += 1
                data = write_command(rng.choice(KEYS), f"{self.now}.{self._sequence}")
                with contextlib.suppress(NotLeader):
                    raft.propose(data)
                self.nodes[raft.id].dirty = True
        if rng.random() < params.read_rate:
            group = rng.randint(1, params.groups)
            raft = self.client_target(group)
            if raft is not None and raft.role is Role.LEADER:
                key = rng.choice(KEYS)
                self._sequence += 1
                context = f"read-{self._sequence}".encode()
                self.reads[context] = PendingRead(
                    group, key, self.checker.read_floor(group, key), raft.id
                )
                raft.read_index(context)
                self.nodes[raft.id].dirty = True

    def _adversarial_proposal(self) -> None:
        raft = self.client_target(1)
        if raft is None:
            return
        app = self.nodes[raft.id].apps.get(1)
        watch: list[tuple[bytes, bytes]] = []
        if app is not None:
            db = app.shard.engine.db
            db.now_ms = app.shard.clock_ms
            watch = digests(db, self.adversary_rng.sample(ADVERSARY_WATCH_KEYS, 1))
        data = self.adversary.entry(ADVERSARY_EPOCH_MS + self.now * 10, watch)
        if data[:2] in (b"w|", b"m|"):  # a malformed entry that looks like a register's
            data = b"\x00" + data
        with contextlib.suppress(NotLeader):
            raft.propose(data)
        self.nodes[raft.id].dirty = True

    # -- checks ----------------------------------------------------------------------------

    def _check(self, node: SimNode) -> None:
        checker = self.checker
        assert node.multi is not None
        if node.disk.rejoining and not node.multi.votes_held():
            node.disk.rejoining = False  # every replica caught up: a restart holds no more
        for raft in node.multi:
            checker.on_replica(raft.group, raft)
            if raft.role is Role.LEADER:
                self.leader_hint[raft.group] = node.id

    def heal_and_check_liveness(self) -> None:
        """Heal everything, stop the clients, and require every group to commit a new entry
        on all its members. A group fails if it goes a whole window (LIVENESS_ELECTION_
        TIMEOUTS election timeouts) without progress: nothing new applied anywhere and its
        leader's followers matching no further. A backlog left by slow settings (one entry
        per append, one append in flight) may take longer than a window, but it must keep
        draining."""
        self.nemesis.stop()
        self.network.calm()
        self.clients_active = False
        for node_id, node in self.nodes.items():
            if not node.up:
                self.restart(node_id)
        window = LIVENESS_ELECTION_TIMEOUTS * self.params.election_ticks * TICK_UNITS
        markers: dict[int, tuple[int, int, int]] = {}  # group -> (leader, term, index)
        pending = set(self.hosts)
        # group -> (applied anywhere, (leader, term), followers' matches, since)
        progress: dict[int, tuple[int, tuple[int, int] | None, int, int]] = {
            group: (-1, None, -1, self.now) for group in pending
        }
        healed_at = self.now
        while pending:
            self.step()
            if self.now - healed_at > LIVENESS_MAX_WINDOWS * window:
                headline = (
                    f"liveness: groups {sorted(pending)} still unfinished "
                    f"{LIVENESS_MAX_WINDOWS * window} units after healing at {self.params.steps}"
                )
                raise LivenessViolation(self._liveness_report(pending, window, headline))
            for group in list(pending):
                if self._marker_done(group, markers):
                    pending.discard(group)
                    continue
                applied, leadership, matches = self._progress_mark(group)
                best_applied, best_leadership, best_matches, since = progress[group]
                same_leader = leadership == best_leadership
                if applied > best_applied or (same_leader and matches > best_matches):
                    progress[group] = (max(applied, best_applied), leadership, matches, self.now)
                elif not same_leader:  # a new leader earns no credit by itself
                    progress[group] = (best_applied, leadership, matches, since)
                elif self.now - since > window:
                    raise LivenessViolation(self._liveness_report(pending, window))
        # Every placement move finishes once the faults are healed.
        while not self.placement.settled:
            if self.now - healed_at > LIVENESS_MAX_WINDOWS * window:
                raise LivenessViolation(
                    f"liveness: placement moves {self.placement.targets} unfinished "
                    f"{LIVENESS_MAX_WINDOWS * window} units after healing at {self.params.steps}"
                )
            self.step()

    def _progress_mark(self, group: int) -> tuple[int, tuple[int, int] | None, int]:
        """Entries applied anywhere, the leader (id, term), and how far its followers match;
        without a leader nothing counts (progress means a leader that applies entries)."""
        leader = self.leader_of(group)
        if leader is None:
            return -1, None, -1
        applied = len(self.checker.applied.get(group, ()))
        matches = sum(peer.match for peer in leader.status().peers.values())
        return applied, (leader.id, leader.term), matches

    def _marker_done(self, group: int, markers: dict[int, tuple[int, int, int]]) -> bool:
        leader = self.leader_of(group)
        marker = markers.get(group)
        if leader is None:
            return False
        if marker is None or marker[:2] != (leader.id, leader.term):
            try:
                index = leader.propose(f"m|{group}|{self.now}".encode())
            except NotLeader:
                return False
            self.nodes[leader.id].dirty = True
            markers[group] = (leader.id, leader.term, index)
            return False
        index = marker[2]
        applied = self.checker.applied.get(group, [])
        if len(applied) < index or applied[index - 1][0] != marker[1]:
            return False
        members = (*leader.conf.voters, *leader.conf.learners)
        for member in members:
            node = self.nodes[member]
            app = node.apps.get(group) if node.up else None
            if app is None or app.applied < index:
                return False
        return True

    def _liveness_report(self, pending: set[int], limit: int, headline: str = "") -> str:
        lines = [
            headline
            or f"liveness: groups {sorted(pending)} made no progress for {limit} units "
            f"({LIVENESS_ELECTION_TIMEOUTS} election timeouts) after healing at {self.params.steps}"
        ]
        for group in sorted(pending):
            for node_id in sorted(self.hosts[group]):
                raft = self.replica(node_id, group)
                if raft is not None:
                    status = raft.status()
                    lines.append(
                        f"  group {group} node {node_id}: {status.role.name} term {status.term} "
                        f"leader {status.leader} commit {status.commit} last {status.last_index} "
                        f"voters {status.conf.voters} learners {status.conf.learners}"
                    )
        return "\n".join(lines)


def run_simulation(params: SimParams) -> Simulation:
    simulation = Simulation(params)
    simulation.run()
    return simulation


__all__ = [
    "LivenessViolation",
    "RaftError",
    "SafetyViolation",
    "SimParams",
    "Simulation",
    "run_simulation",
]

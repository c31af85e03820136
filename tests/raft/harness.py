"""A small deterministic cluster of one Raft group for scenario tests.

Messages wait in a queue until a test delivers them (all, or those a predicate picks), so a
test decides exactly what reaches whom and when. Persistence is immediate and kept per node
(`MemoryStorage`) so that a node can crash (losing everything in memory) and restart from
what it persisted. Each node applies committed entries to a list (its state machine).

A test can watch what happens (the scenario scripts record it as a trace): `on_ready` sees
every Ready a node hands out, before it is advanced; `on_lost` sees every message that did
not reach its destination, with the reason. `describe_ready` and `describe_message` print
them in the scripts' format (tests/raft/testdata/README.md).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable

from node.raft import (
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    RaftConfig,
    RaftNode,
    ReadState,
    Ready,
    RestoredState,
    Role,
    Snapshot,
    bootstrap_state,
)
from node.raft.confchange import InvalidConfChange
from node.raft.confchange import decode as decode_conf_change
from node.raft.messages import (
    AppendEntries,
    AppendResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    Message,
    RequestVote,
    SnapshotResponse,
    TimeoutNow,
    VoteResponse,
)
from node.raft.multi import MultiReady
from node.raft.readonly import STAMP_SHIFT
from node.raft.ready_policy import GroupWrite, ReadyPlan, ReadyPolicy
from node.raft.validate import Rejection, check_for_replica, check_message

# Messages the clusters' replicas sent each other that validation dropped: a scenario's own
# traffic must never be (tests/raft/conftest.py checks after every test).
OWN_TRAFFIC_REJECTED: list[tuple[Message, Rejection]] = []


class MemoryStorage:
    """What a node persisted: hard state, snapshot, entries after it."""

    def __init__(self, restored: RestoredState) -> None:
        self.hard_state = restored.hard_state
        self.snapshot = restored.snapshot
        self.entries: list[Entry] = list(restored.entries)

    def persist(self, write: GroupWrite) -> None:
        """What the Ready policy says to write (node/raft/ready_policy.py)."""
        if write.snapshot is not None:
            self.snapshot = write.snapshot
            self.entries = []
        if write.truncate_from is not None:
            self.entries = [e for e in self.entries if e.index < write.truncate_from]
        if write.entries:
            first = write.entries[0].index
            self.entries = [e for e in self.entries if e.index < first]
            assert not self.entries or self.entries[-1].index == first - 1, "gap in the log"
            self.entries.extend(write.entries)
        if write.hard_state is not None:
            self.hard_state = write.hard_state

    def compact(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.entries = [e for e in self.entries if e.index > snapshot.meta.index]

    def restored(self) -> RestoredState:
        return RestoredState(self.hard_state, self.snapshot, tuple(self.entries))


class Cluster:
    def __init__(
        self,
        voters: Iterable[int] = (1, 2, 3),
        learners: Iterable[int] = (),
        seed: int = 0,
        **config: object,
    ) -> None:
        self.voters = tuple(voters)
        self.learners = tuple(learners)
        self.config_overrides = config
        self.rng = random.Random(seed)
        self.nodes: dict[int, RaftNode] = {}
        self.storage: dict[int, MemoryStorage] = {}
        self.applied: dict[int, list[Entry]] = {}
        self.read_states: dict[int, list[ReadState]] = {}
        self.dropped_reads: dict[int, list[bytes]] = {}
        self.queue: list[Message] = []
        self.blocked: set[tuple[int, int]] = set()
        self.down: set[int] = set()
        self.sent: list[Message] = []  # every message sent, in order (for assertions)
        self.rejected: list[tuple[Message, Rejection]] = []  # dropped by validation
        self.injected: list[Message] = []
        # Observers (None: nobody watches): every Ready handled, before advance; every message
        # lost on the way, with why ("cut off", "down", "dropped by the test", a rejection).
        self.on_ready: Callable[[int, Ready], None] | None = None
        self.on_lost: Callable[[Message, str], None] | None = None
        self.on_sync: Callable[[int, list[Message]], None] | None = None  # `sync` ended one
        # The node's Ready policy per node, and the writes not yet durable of the nodes
        # whose fsyncs the test ends by hand (`sync_later`, then `sync`).
        self.policies: dict[int, ReadyPolicy] = {}
        self.sync_later: set[int] = set()
        self.syncing: dict[int, tuple[Ready, ReadyPlan]] = {}
        boot = bootstrap_state(self.voters, self.learners)
        for node_id in (*self.voters, *self.learners):
            self.add_node(node_id, boot)

    # -- membership of the harness ---------------------------------------------------------

    def config(self, node_id: int) -> RaftConfig:
        return RaftConfig(node_id=node_id, group_id=1, **self.config_overrides)  # type: ignore[arg-type]

    def add_node(self, node_id: int, restored: RestoredState | None = None) -> RaftNode:
        restored = restored or RestoredState()
        self.storage[node_id] = MemoryStorage(restored)
        node = RaftNode(self.config(node_id), restored, random.Random(self.rng.random()))
        self.nodes[node_id] = node
        self.policies[node_id] = ReadyPolicy()
        self.policies[node_id].restored(1, restored.hard_state)
        self.applied[node_id] = list(self._snapshot_entries(restored.snapshot))
        self.read_states[node_id] = []
        self.dropped_reads[node_id] = []
        return node

    @staticmethod
    def _snapshot_entries(snapshot: Snapshot | None) -> list[Entry]:
        # The harness's state machine is the list of applied entries; a snapshot holds it.
        if snapshot is None:
            return []
        rows = json.loads(snapshot.data)
        return [
            Entry(index, term, EntryType(kind), bytes.fromhex(data))
            for index, term, kind, data in rows
        ]

    def snapshot_data(self, node_id: int) -> bytes:
        rows = [(e.index, e.term, int(e.type), e.data.hex()) for e in self.applied[node_id]]
        return json.dumps(rows).encode()

    # -- driving ---------------------------------------------------------------------------

    def process(self, node_id: int) -> bool:
        """Handle one Ready of `node_id` if it has one, with the node's Ready policy: start
        the write, send what may leave early, apply; then, at once or (for a node in
        `sync_later`) when the test calls `sync`, make the write durable, send the rest and
        advance."""
        node = self.nodes[node_id]
        if node_id in self.down or node_id in self.syncing or not node.has_ready():
            return False
        ready = node.ready()
        batch = MultiReady()  # what MultiRaft.ready() would hand out for this one group
        batch.groups[1] = ready
        for message in ready.messages:
            batch.outbox.setdefault(message.dst, []).append(message)
        plan = self.policies[node_id].plan(batch)
        self.syncing[node_id] = (ready, plan)
        if self.on_ready is not None:
            self.on_ready(node_id, ready)
        if node_id not in self.sync_later:
            self._send(ready.messages)  # in order: the write is durable at once
        else:
            self._send([m for m in ready.messages if plan.leaves_early(m)])
        self._apply(node_id, ready)
        if node_id not in self.sync_later:
            self.sync(node_id)
        return True

    def waits_for_fsync(self, node_id: int, message: Message) -> bool:
        """Whether `message` of the Ready `node_id` is handling waits for its fsync (only
        for a node whose fsyncs the test ends by hand: the others' are instant)."""
        pending = self.syncing.get(node_id)
        if node_id not in self.sync_later or pending is None:
            return False
        return not pending[1].leaves_early(message)

    def sync(self, node_id: int) -> bool:
        """The write of `node_id`'s Ready is durable: persist it, send what waited for it
        (when it was not sent at once), advance. False if nothing was being written."""
        pending = self.syncing.pop(node_id, None)
        if pending is None:
            return False
        ready, plan = pending
        for write in plan.writes:
            self.storage[node_id].persist(write)
        if node_id in self.sync_later:
            waited = [m for m in ready.messages if not plan.leaves_early(m)]
            if self.on_sync is not None:
                self.on_sync(node_id, waited)
            self._send(waited)
        self.nodes[node_id].advance(ready)
        return True

    def _send(self, messages: Iterable[Message]) -> None:
        for message in messages:
            self.sent.append(message)
            self.queue.append(message)

    def _apply(self, node_id: int, ready: Ready) -> None:
        if ready.snapshot is not None:
            self.applied[node_id] = self._snapshot_entries(ready.snapshot)
        for entry in ready.committed_entries:
            applied = self.applied[node_id]
            expected = applied[-1].index + 1 if applied else 1
            assert entry.index == expected, (
                f"node {node_id} applied {entry.index}, expected {expected}"
            )
            applied.append(entry)
        self.read_states[node_id].extend(ready.read_states)
        self.dropped_reads[node_id].extend(ready.dropped_reads)

    def process_all(self) -> bool:
        return any([self.process(node_id) for node_id in self.nodes])

    def deliver(self, pick: Callable[[Message], bool] | None = None) -> int:
        """Deliver the queued messages `pick` selects (all by default), in order; messages to
        or from a down node or over a blocked link are dropped."""
        chosen = [m for m in self.queue if pick is None or pick(m)]
        self.queue = [m for m in self.queue if not (pick is None or pick(m))]
        for message in chosen:
            if message.dst in self.down or message.src in self.down:
                self._lost(message, "down")
            elif (message.src, message.dst) in self.blocked:
                self._lost(message, "cut off")
            elif message.dst not in self.nodes:
                self._lost(message, "no such node")
            else:
                self.step(message)
        return len(chosen)

    def _lost(self, message: Message, reason: str) -> None:
        if self.on_lost is not None:
            self.on_lost(message, reason)

    def step(self, message: Message) -> None:
        """Step one message into its destination, as a node's receive path does: checked
        first (node.raft.validate); a rejected message is dropped and kept in `rejected`."""
        node = self.nodes[message.dst]
        rejection = check_message(message, message.src, message.dst) or check_for_replica(
            node, message
        )
        if rejection is None:
            node.step(message)
            return
        self.rejected.append((message, rejection))
        self._lost(message, f"rejected: {rejection.reason}: {rejection.detail}")
        if not any(message is injected for injected in self.injected):
            OWN_TRAFFIC_REJECTED.append((message, rejection))

    def inject(self, message: Message) -> None:
        """A message from outside the cluster's own traffic (forged, corrupted), stepped at
        once through the receive path."""
        self.injected.append(message)
        if message.dst in self.nodes and message.dst not in self.down:
            self.step(message)

    def drop(self, pick: Callable[[Message], bool]) -> int:
        dropped = [m for m in self.queue if pick(m)]
        self.queue = [m for m in self.queue if not pick(m)]
        for message in dropped:
            self._lost(message, "dropped by the test")
        return len(dropped)

    def stabilize(self, rounds: int = 200) -> None:
        """Process and deliver until nothing moves."""
        for _ in range(rounds):
            moved = self.process_all()
            moved = self.deliver() > 0 or moved
            if not moved:
                return
        raise AssertionError("the cluster did not settle")

    def tick(self, node_ids: Iterable[int] | None = None, times: int = 1) -> None:
        ids = list(self.nodes) if node_ids is None else list(node_ids)
        for _ in range(times):
            for node_id in ids:
                if node_id not in self.down:
                    self.nodes[node_id].tick()

    def run(self, ticks: int) -> None:
        """Tick everyone and stabilize after each tick."""
        for _ in range(ticks):
            self.tick()
            self.stabilize()

    def campaign(self, node_id: int, max_ticks: int = 100) -> None:
        """Tick only `node_id` until it campaigns, then let the election run."""
        node = self.nodes[node_id]
        for _ in range(max_ticks):
            node.tick()
            if node.role is not Role.FOLLOWER:
                break
        self.stabilize()

    def forget_leader(self) -> None:
        """Let every node's leader lease run out, as if a leader had not been heard from for
        an election timeout (without ticking, which would start elections)."""
        for node in self.nodes.values():
            node._guard_elapsed = node.config.election_ticks

    def elect(self, node_id: int, attempts: int = 5) -> None:
        """Make `node_id` leader: leases run out, then it campaigns (again if it learns a
        higher term from the first attempt)."""
        for _ in range(attempts):
            self.forget_leader()
            self.campaign(node_id)
            if self.nodes[node_id].role is Role.LEADER:
                return
        raise AssertionError(f"node {node_id} was not elected: {self.nodes[node_id].status()}")

    def elect_without_appends(self, node_id: int, attempts: int = 5) -> None:
        """Make `node_id` leader while everything it sends as leader is lost: it holds its
        no-op entry alone."""
        node = self.nodes[node_id]
        from_leader = (AppendEntries, Heartbeat, InstallSnapshot)
        for _ in range(attempts):
            self.forget_leader()
            while node.role is Role.FOLLOWER:
                node.tick()
            for _ in range(20):
                self.process_all()
                self.drop(lambda m: m.src == node_id and isinstance(m, from_leader))
                self.deliver()
            if node.role is Role.LEADER:
                return
        raise AssertionError(f"node {node_id} was not elected: {node.status()}")

    # -- faults ----------------------------------------------------------------------------

    def isolate(self, node_id: int) -> None:
        for other in self.nodes:
            if other != node_id:
                self.blocked.add((node_id, other))
                self.blocked.add((other, node_id))

    def partition(self, *sides: Iterable[int]) -> None:
        groups = [set(side) for side in sides]
        for a in groups:
            for b in groups:
                if a is not b:
                    self.blocked.update((x, y) for x in a for y in b)

    def heal(self) -> None:
        self.blocked.clear()

    def crash(self, node_id: int) -> None:
        """The node stops; a write of it that was not durable yet is lost."""
        self.down.add(node_id)
        self.syncing.pop(node_id, None)
        for message in self.queue:
            if node_id in (message.src, message.dst):
                self._lost(message, "down")
        self.queue = [m for m in self.queue if m.dst != node_id and m.src != node_id]

    def restart(self, node_id: int) -> RaftNode:
        """A new process on the node's storage (its fsyncs instant again: see sync_later)."""
        self.down.discard(node_id)
        self.sync_later.discard(node_id)
        restored = self.storage[node_id].restored()
        node = RaftNode(self.config(node_id), restored, random.Random(self.rng.random()))
        self.nodes[node_id] = node
        self.policies[node_id] = ReadyPolicy()
        self.policies[node_id].restored(1, restored.hard_state)
        self.applied[node_id] = self._snapshot_entries(restored.snapshot)
        return node

    # -- helpers ---------------------------------------------------------------------------

    def leader(self) -> int:
        leaders = [i for i, n in self.nodes.items() if i not in self.down and n.role is Role.LEADER]
        assert len(leaders) <= 1 or len({self.nodes[i].term for i in leaders}) == len(leaders)
        return max(leaders, key=lambda i: self.nodes[i].term) if leaders else 0

    def data(self, node_id: int) -> list[bytes]:
        """The payloads a node applied (no-ops and membership changes left out)."""
        return [e.data for e in self.applied[node_id] if e.type is EntryType.NORMAL and e.data]

    def compact(self, node_id: int) -> None:
        node = self.nodes[node_id]
        index = node.log.applied
        meta = node.compact(index, self.snapshot_data(node_id))
        assert node.snapshot is not None and meta is not None and meta.index == index
        self.storage[node_id].compact(node.snapshot)


def hard_state(node: RaftNode) -> HardState:
    return HardState(node.term, node.vote, node.log.committed)


def conf(voters: Iterable[int], learners: Iterable[int] = ()) -> ConfState:
    return ConfState(tuple(sorted(voters)), tuple(sorted(learners)))


# -- printing (the scenario scripts' traces: tests/raft/testdata/README.md) -------------------


def describe_stamp(stamp: int) -> str:
    """A leader's stamp as `tick` or `tick.reads` (the ReadIndex rounds within that tick)."""
    tick, rounds = stamp >> STAMP_SHIFT, stamp & ((1 << STAMP_SHIFT) - 1)
    return f"{tick}.{rounds}" if rounds else str(tick)


def describe_ids(ids: Iterable[int]) -> str:
    return ",".join(map(str, ids)) or "-"


def describe_data(data: bytes) -> str:
    text = data.decode("utf-8", "backslashreplace")
    if len(text) > 24:
        text = text[:21] + "..."
    return '"' + text.replace('"', '\\"') + '"'


def describe_entry(entry: Entry) -> str:
    """`index@term` and what the entry holds: noop, "data" or conf(change)."""
    position = f"{entry.index}@{entry.term}"
    if entry.type is EntryType.CONF_CHANGE:
        try:
            change = decode_conf_change(entry.data)
        except InvalidConfChange:
            return f"{position} conf(malformed)"
        kind = change.type.name.lower().replace("_", "-")
        if change.type is ConfChangeType.SET:
            what = f"voters={describe_ids(change.voters)} learners={describe_ids(change.learners)}"
            return f"{position} conf({kind} {what})"
        return f"{position} conf({kind} {change.node_id})"
    return f"{position} {describe_data(entry.data) if entry.data else 'noop'}"


def describe_entries(entries: Iterable[Entry]) -> str:
    return ", ".join(describe_entry(e) for e in entries)


def describe_conf(conf: ConfState) -> str:
    return f"voters={describe_ids(conf.voters)} learners={describe_ids(conf.learners)}"


def describe_message(m: Message) -> str:
    """One line: `src->dst Kind term=T` and the fields that matter for that kind."""
    head = f"{m.src}->{m.dst} {type(m).__name__} term={m.term}"
    flags: list[str] = []
    if isinstance(m, AppendEntries):
        fields = f"prev={m.prev_index}@{m.prev_term} commit={m.commit}"
        if m.entries:
            fields += f" entries=[{describe_entries(m.entries)}]"
        fields += f" stamp={describe_stamp(m.stamp)}"
        flags = ["release"] if m.release_hold else []
    elif isinstance(m, AppendResponse):
        fields = f"index={m.index}"
        if m.reject:
            fields += f" reject hint={m.hint_index}@{m.hint_term}"
        if m.stamp:
            fields += f" stamp={describe_stamp(m.stamp)}"
        flags = ["rejoining"] if m.rejoining else []
    elif isinstance(m, Heartbeat):
        fields = f"commit={m.commit} stamp={describe_stamp(m.stamp)}"
        flags = [f for f, on in (("release", m.release_hold), ("transfer", m.transfer)) if on]
    elif isinstance(m, HeartbeatResponse):
        fields = f"stamp={describe_stamp(m.stamp)}"
        flags = ["rejoining"] if m.rejoining else []
    elif isinstance(m, RequestVote):
        fields = f"last={m.last_index}@{m.last_term}"
        flags = [f for f, on in (("pre", m.pre), ("force", m.force)) if on]
    elif isinstance(m, VoteResponse):
        fields = "granted" if m.granted else "rejected"
        flags = ["pre"] if m.pre else []
    elif isinstance(m, InstallSnapshot):
        meta = m.meta
        fields = (
            f"snapshot={meta.index}@{meta.term} offset={m.offset} bytes={len(m.data)}"
            f" stamp={describe_stamp(m.stamp)}"
        )
        flags = ["done"] if m.done else []
    elif isinstance(m, SnapshotResponse):
        fields = f"snapshot={m.index} next={m.next_offset}"
        if m.stamp:
            fields += f" stamp={describe_stamp(m.stamp)}"
        flags = [f for f, on in (("reject", m.reject), ("rejoining", m.rejoining)) if on]
    elif isinstance(m, TimeoutNow):
        fields = ""
    else:
        raise TypeError(f"not a Raft message: {m!r}")
    return " ".join(part for part in (head, fields, *flags) if part)


def describe_ready(ready: Ready, waits: Callable[[Message], bool] | None = None) -> list[str]:
    """What a Ready hands out, one line per kind of work, in the order it must be done;
    messages for which `waits` is true wait for the Ready's fsync ("send after fsync")."""
    lines = []
    if ready.soft_state is not None:
        role = ready.soft_state.role.name.lower().replace("_", "-")
        lines.append(f"role={role} leader={ready.soft_state.leader}")
    if ready.hard_state is not None:
        hs = ready.hard_state
        lines.append(f"hard state term={hs.term} vote={hs.vote} commit={hs.commit}")
    if ready.snapshot is not None:
        meta = ready.snapshot.meta
        lines.append(
            f"install snapshot {meta.index}@{meta.term} {describe_conf(meta.conf)}"
            f" ({len(ready.snapshot.data)} bytes)"
        )
    if ready.entries:
        truncate = "" if ready.truncate_from is None else f" (truncate from {ready.truncate_from})"
        lines.append(f"append{truncate} {describe_entries(ready.entries)}")
    if ready.committed_entries:
        lines.append(f"apply {describe_entries(ready.committed_entries)}")
    lines.extend(f"read {describe_data(s.context)} at index {s.index}" for s in ready.read_states)
    lines.extend(f"read dropped {describe_data(context)}" for context in ready.dropped_reads)
    for message in ready.messages:
        when = "send after fsync" if waits is not None and waits(message) else "send"
        lines.append(f"{when} {describe_message(message)}")
    return lines

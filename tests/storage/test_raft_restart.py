"""Storage with the Raft core: what a replica persisted is what it restarts from."""

from __future__ import annotations

import random

from node.raft import RaftConfig, RaftNode, Role, Snapshot, bootstrap_state
from node.storage import NodeStorage, persist_records, snapshot_records
from node.storage.segments import scan_segment

GROUP = 5


class Replica:
    """One single-voter group driven the way the node drives it: every Ready is persisted
    through storage before it is advanced; applied entries are recorded."""

    def __init__(self, storage: NodeStorage, node: RaftNode) -> None:
        self.storage = storage
        self.node = node
        self.applied: list[bytes] = []

    def drain(self) -> None:
        while self.node.has_ready():
            ready = self.node.ready()
            if ready.snapshot is not None:
                self.storage.save_snapshot(GROUP, ready.snapshot)
            meta = ready.snapshot.meta if ready.snapshot is not None else None
            self.storage.commit(
                persist_records(
                    GROUP,
                    snapshot=meta,
                    truncate_from=ready.truncate_from,
                    entries=ready.entries,
                    hard_state=ready.hard_state,
                )
            )
            self.applied += [entry.data for entry in ready.committed_entries if entry.data]
            self.node.advance(ready)

    def elect(self) -> None:
        for _ in range(100):
            self.node.tick()
            self.drain()
            if self.node.role is Role.LEADER:
                return
        raise AssertionError("no leader after 100 ticks")


def test_a_replica_restarts_from_its_wal_and_snapshot(tmp_path):
    storage, restored = NodeStorage.open(tmp_path, segment_bytes=4096)
    assert restored == {}
    boot = bootstrap_state((1,))
    storage.commit(persist_records(GROUP, entries=boot.entries, hard_state=boot.hard_state))
    replica = Replica(
        storage, RaftNode(RaftConfig(node_id=1, group_id=GROUP), boot, random.Random(1))
    )
    replica.elect()
    for i in range(40):
        replica.node.propose(b"cmd %d" % i)
        replica.drain()
    status = replica.node.status()
    meta = replica.node.compact(status.applied, b"state after 40 commands")
    assert meta is not None
    storage.save_snapshot(GROUP, Snapshot(meta, b"state after 40 commands"))
    storage.commit(snapshot_records(GROUP, meta, replaces_log=False))
    for i in range(40, 50):
        replica.node.propose(b"cmd %d" % i)
        replica.drain()
    term_before = replica.node.term
    storage.close()

    storage, restored = NodeStorage.open(tmp_path, segment_bytes=4096)
    state = restored[GROUP]
    assert state.snapshot == Snapshot(meta, b"state after 40 commands")
    assert [e.data for e in state.entries] == [b"cmd %d" % i for i in range(40, 50)]
    assert state.entries[0].index == meta.index + 1
    assert state.hard_state.term == term_before
    again = Replica(
        storage, RaftNode(RaftConfig(node_id=1, group_id=GROUP), state, random.Random(2))
    )
    again.elect()
    again.node.propose(b"after restart")
    again.drain()
    assert again.node.term > term_before
    # Everything after the snapshot is applied again, in order, then the new command.
    assert again.applied == [b"cmd %d" % i for i in range(40, 50)] + [b"after restart"]
    storage.close()


class Group:
    """Three replicas of one group, each with its own storage in its own directory, driven
    in lock step; messages are delivered only after the sender persisted its Ready."""

    def __init__(self, root, ids=(1, 2, 3)) -> None:
        self.root = root
        self.ids = ids
        self.storages: dict[int, NodeStorage] = {}
        self.replicas: dict[int, Replica] = {}
        self.down: set[int] = set()
        for node in ids:
            self.start(node)

    def start(self, node: int) -> None:
        storage, restored = NodeStorage.open(self.root / f"n{node}", segment_bytes=1 << 20)
        state = restored.get(GROUP)
        if state is None:
            state = bootstrap_state(self.ids)
            storage.commit(
                persist_records(GROUP, entries=state.entries, hard_state=state.hard_state)
            )
        raft = RaftNode(RaftConfig(node_id=node, group_id=GROUP), state, random.Random(node))
        self.storages[node] = storage
        self.replicas[node] = Replica(storage, raft)
        self.down.discard(node)

    def stop(self, node: int) -> None:
        self.storages[node].close()
        self.down.add(node)

    def run(self, ticks: int = 1) -> None:
        for _ in range(ticks):
            for node, replica in self.replicas.items():
                if node not in self.down:
                    replica.node.tick()
            self.settle()

    def settle(self) -> None:
        moved = True
        while moved:
            moved = False
            for node, replica in self.replicas.items():
                if node in self.down or not replica.node.has_ready():
                    continue
                moved = True
                raft = replica.node
                ready = raft.ready()
                if ready.snapshot is not None:
                    replica.storage.save_snapshot(GROUP, ready.snapshot)
                meta = ready.snapshot.meta if ready.snapshot is not None else None
                replica.storage.commit(
                    persist_records(
                        GROUP,
                        snapshot=meta,
                        truncate_from=ready.truncate_from,
                        entries=ready.entries,
                        hard_state=ready.hard_state,
                    )
                )
                replica.applied += [e.data for e in ready.committed_entries if e.data]
                raft.advance(ready)
                for message in ready.messages:
                    if message.dst not in self.down:
                        self.replicas[message.dst].node.step(message)

    def leader(self) -> int:
        for _ in range(200):
            leaders = [
                n
                for n, r in self.replicas.items()
                if n not in self.down and r.node.role is Role.LEADER
            ]
            if leaders:
                return leaders[0]
            self.run()
        raise AssertionError("no leader")


def test_a_replica_restarts_with_a_torn_wal_tail_and_catches_up(tmp_path):
    group = Group(tmp_path)
    leader = group.leader()
    for i in range(30):
        group.replicas[leader].node.propose(b"acked %d" % i)
        group.settle()
    follower = next(n for n in group.ids if n != leader)
    assert group.replicas[follower].applied[-1] == b"acked 29"
    # The follower crashes in the middle of writing a batch: its last segment ends with
    # the first bytes of a record that never became durable.
    group.stop(follower)
    segment = sorted((tmp_path / f"n{follower}" / "wal").glob("*.wal"))[-1]
    durable_size = scan_segment(int(segment.stem), segment).valid_end
    with open(segment, "r+b") as handle:  # where the next record goes, as a crash leaves it
        handle.seek(durable_size)
        handle.write(b"\x40\x00\x00\x00\x01partial-record")
    # Meanwhile the others go on committing.
    for i in range(30, 40):
        group.replicas[leader].node.propose(b"acked %d" % i)
        group.settle()
    group.start(follower)  # replay cuts the torn tail, keeps everything before it
    assert segment.stat().st_size == durable_size
    restarted = group.replicas[follower]
    assert [e.data for e in restarted.node.log.entries][-1] == b"acked 29"
    group.run(30)
    group.replicas[leader].node.propose(b"after restart")
    group.settle()
    expected = [b"acked %d" % i for i in range(40)] + [b"after restart"]
    for node in group.ids:
        applied = group.replicas[node].applied
        assert applied[-len(expected) :] == expected or applied == expected, node

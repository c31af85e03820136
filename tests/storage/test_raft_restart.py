"""Storage with the Raft core: what a replica persisted is what it restarts from."""

from __future__ import annotations

import random

from node.raft import RaftConfig, RaftNode, Role, Snapshot, bootstrap_state
from node.storage import NodeStorage, persist_records, snapshot_records

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

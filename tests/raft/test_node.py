"""The RaftNode interface: errors, Ready contract, restart, status, and the multi-raft host."""

from __future__ import annotations

import random

import pytest

from node.raft import (
    HardState,
    MultiRaft,
    NotLeader,
    RaftConfig,
    RaftError,
    RaftNode,
    RestoredState,
    Role,
    bootstrap_state,
)
from node.raft.messages import AppendEntries, Heartbeat, InstallSnapshot, RequestVote, VoteResponse
from node.raft.ready_policy import GroupWrite
from tests.raft.harness import Cluster


def test_followers_refuse_proposals_and_reads_with_the_leader_hint():
    c = Cluster()
    c.elect(2)
    for n in (1, 3):
        with pytest.raises(NotLeader) as error:
            c.nodes[n].propose(b"x")
        assert error.value.leader_id == 2
        with pytest.raises(NotLeader):
            c.nodes[n].read_index(b"r")
    fresh = RaftNode(RaftConfig(node_id=9), RestoredState())
    with pytest.raises(NotLeader) as error:
        fresh.propose(b"x")
    assert error.value.leader_id == 0


def test_a_vote_is_in_the_same_ready_as_the_hard_state_that_records_it():
    node = RaftNode(RaftConfig(node_id=2, group_id=1), bootstrap_state((1, 2, 3)))
    for _ in range(node.config.election_ticks):
        node.tick()  # let the startup lease guard run out without campaigning
    node._elapsed = 0
    node.step(RequestVote(1, 1, 2, 5, 1, 1))
    ready = node.ready()
    [answer] = ready.messages
    assert isinstance(answer, VoteResponse) and answer.granted
    assert ready.hard_state == HardState(term=5, vote=1, commit=1)
    node.advance(ready)
    assert not node.has_ready()


def test_only_one_ready_is_outstanding():
    c = Cluster()
    c.elect(1)
    node = c.nodes[1]
    node.propose(b"a")
    ready = node.ready()
    assert not node.has_ready()
    with pytest.raises(RaftError):
        node.ready()
    node.propose(b"b")  # proposals are still taken
    with pytest.raises(RaftError):
        node.advance(object())  # type: ignore[arg-type]
    node.advance(ready)
    assert node.has_ready()


def test_committed_entries_come_after_persistence_of_the_leader_or_a_quorum():
    c = Cluster(voters=(1,))
    c.elect(1)
    node = c.nodes[1]
    index = node.propose(b"solo")
    first = node.ready()
    assert [e.index for e in first.entries] == [index]
    assert all(e.index < index for e in first.committed_entries)  # not before it is persisted
    node.advance(first)
    second = node.ready()
    assert [e.data for e in second.committed_entries] == [b"solo"]
    node.advance(second)


def test_restart_from_persisted_state_and_status():
    c = Cluster()
    c.elect(1)
    for i in range(5):
        c.nodes[1].propose(b"v%d" % i)
    c.stabilize()
    c.compact(2)
    c.crash(2)
    node = c.restart(2)
    status = node.status()
    assert status.role is Role.FOLLOWER and status.term == c.nodes[1].term
    assert status.first_index > 1 and status.last_index == c.nodes[1].log.last_index()
    assert status.conf.voters == (1, 2, 3)
    c.run(3)
    assert c.data(2) == c.data(1)
    leader_status = c.nodes[1].status()
    assert set(leader_status.peers) == {2, 3}
    assert leader_status.peers[2].match == leader_status.last_index
    assert leader_status.peers[2].state == "replicate"


def test_messages_wait_for_their_ready():
    c = Cluster()
    c.elect(1)
    node = c.nodes[1]
    node.propose(b"x")
    assert not node._msgs  # proposals only mark work; the append goes out with the Ready
    ready = node.ready()
    assert any(isinstance(m, AppendEntries) for m in ready.messages)
    node.advance(ready)


def test_stale_term_messages_get_our_term_back():
    c = Cluster()
    c.elect(1)
    c.elect(2)
    old = Heartbeat(1, 1, 3, c.nodes[1].term - 1, 0, 0)
    c.nodes[3].step(old)
    ready = c.nodes[3].ready()
    assert [m.term for m in ready.messages] == [c.nodes[3].term]
    c.nodes[3].advance(ready)


class TestMultiRaft:
    def build(self, groups: int = 20) -> dict[int, MultiRaft]:
        hosts = {n: MultiRaft(n, random.Random(n)) for n in (1, 2, 3)}
        boot = bootstrap_state((1, 2, 3))
        for group in range(1, groups + 1):
            for n, host in hosts.items():
                host.add_group(RaftConfig(node_id=n, group_id=group), boot)
        return hosts

    def run(self, hosts: dict[int, MultiRaft], ticks: int) -> list[dict[int, list]]:
        """Tick and exchange batches; returns every outbox produced."""
        outboxes = []
        inbox: dict[int, list] = {n: [] for n in hosts}
        for _ in range(ticks):
            for host in hosts.values():
                host.tick()
            for _ in range(4):
                for n, host in hosts.items():
                    batch, inbox[n] = inbox[n], []
                    assert host.step(batch) == []
                for host in hosts.values():
                    if host.has_ready():
                        ready = host.ready()
                        outboxes.append(ready.outbox)
                        for dst, messages in ready.outbox.items():
                            assert all(m.dst == dst for m in messages)
                            inbox[dst].extend(messages)
                        host.advance(ready)
        return outboxes

    def test_every_group_elects_and_messages_are_batched_per_peer(self):
        hosts = self.build(groups=20)
        outboxes = self.run(hosts, ticks=60)
        leaders = {raft.group for host in hosts.values() for raft in host if raft.is_leader}
        assert leaders == set(range(1, 21))
        # Heartbeats of many groups to one peer travel in one batch.
        assert any(
            len({m.group for m in batch if isinstance(m, Heartbeat)}) > 1
            for outbox in outboxes
            for batch in outbox.values()
        )

    def test_idle_groups_have_no_ready_between_heartbeats(self):
        hosts = self.build(groups=10)
        self.run(hosts, ticks=60)
        follower = next(raft for raft in hosts[1] if not raft.is_leader)
        follower.tick()
        assert not follower.has_ready()
        leader_host = next(h for h in hosts.values() if any(r.is_leader for r in h))
        leader = next(r for r in leader_host if r.is_leader)
        leader._heartbeat_elapsed = 0
        leader.tick()
        if leader.config.heartbeat_ticks > 1:
            assert not leader.has_ready()

    def test_unknown_groups_are_handed_back(self):
        host = MultiRaft(1, random.Random(1))
        stray = Heartbeat(77, 2, 1, 3, 0, 0)
        assert host.step([stray]) == [stray]
        with pytest.raises(RaftError):
            host.add_group(RaftConfig(node_id=2, group_id=1))


def test_a_follower_overwriting_its_persisted_suffix_tells_storage_where_to_cut():
    c = Cluster(voters=(1, 2, 3, 4, 5))
    c.elect(1)
    c.stabilize()
    # 1 appends two entries that only 2 persists, then 3 is elected by 3, 4 and 5.
    c.nodes[1].propose(b"doomed-1")
    c.nodes[1].propose(b"doomed-2")
    c.process(1)
    c.deliver(lambda m: m.dst == 2)
    c.process(2)
    c.drop(lambda m: True)
    doomed_at = c.storage[2].entries[-2].index
    assert c.storage[2].entries[-1].data == b"doomed-2"
    c.crash(1)
    c.isolate(2)
    c.elect(3)
    c.nodes[3].propose(b"winner")
    c.stabilize()
    c.heal()
    truncations = []
    for _ in range(10):
        c.tick([3])
        c.process(3)
        c.deliver()
        node = c.nodes[2]
        if node.has_ready():
            ready = node.ready()
            if ready.truncate_from is not None:
                truncations.append(ready.truncate_from)
            c.storage[2].persist(
                GroupWrite(1, ready.snapshot, ready.truncate_from, ready.entries, ready.hard_state)
            )
            c.queue.extend(ready.messages)
            node.advance(ready)
        c.deliver()
    assert truncations == [doomed_at]
    assert [e.data for e in c.storage[2].entries][-1] == b"winner"
    assert all(not e.data.startswith(b"doomed") for e in c.storage[2].entries)


def test_a_slightly_lagging_follower_gets_entries_not_a_snapshot():
    c = Cluster(compaction_lag=5)
    c.elect(1)
    c.isolate(3)
    for i in range(4):
        c.nodes[1].propose(b"v%d" % i)
    c.stabilize()
    for i in range(10):
        c.nodes[1].propose(b"w%d" % i)
    c.heal()
    c.stabilize()
    c.compact(1)
    c.isolate(3)
    c.nodes[1].propose(b"late")
    c.stabilize()
    c.compact(1)
    c.heal()
    c.run(3)
    assert not any(isinstance(m, InstallSnapshot) for m in c.sent)
    assert c.data(3) == c.data(1)


def test_a_follower_behind_the_compaction_point_gets_the_snapshot_once():
    c = Cluster(compaction_lag=0, snapshot_chunk_bytes=1 << 20)
    c.elect(1)
    c.isolate(3)
    for i in range(20):
        c.nodes[1].propose(b"v%d" % i)
    c.stabilize()
    c.compact(1)
    c.heal()
    c.run(3)
    snapshots = [m for m in c.sent if isinstance(m, InstallSnapshot)]
    assert len(snapshots) == 1 and snapshots[0].done and snapshots[0].dst == 3
    assert c.data(3) == c.data(1)
    assert c.nodes[3].snapshot is not None
    assert c.nodes[3].log.first_index() == c.nodes[3].snapshot.meta.index + 1

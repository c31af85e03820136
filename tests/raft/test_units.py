"""Unit tests of the Raft core's parts: log, progress, quorum, reads, membership, snapshot
chunks, config."""

from __future__ import annotations

import pytest

from node.raft import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    RaftConfig,
    Snapshot,
    SnapshotMeta,
    confchange,
)
from node.raft.confchange import InvalidConfChange
from node.raft.log import RaftLog, make_entry
from node.raft.membership import MembershipLog
from node.raft.messages import AppendEntries, InstallSnapshot
from node.raft.progress import PROBE, REPLICATE, SNAPSHOT, Progress
from node.raft.quorum import VoteResult, quorum_value, vote_result
from node.raft.readonly import PendingReads, ReadState, stamp_at_tick, tick_of
from node.raft.snapshot import SnapshotAssembly, next_chunks
from node.raft.types import EntryType
from tests.raft.harness import Cluster


def entries(*terms: int, start: int = 1) -> list[Entry]:
    return [Entry(start + i, term) for i, term in enumerate(terms)]


class TestLog:
    def test_terms_and_bounds(self):
        log = RaftLog(5, 2, entries(2, 3, 3, start=6), committed=6)
        assert (log.first_index(), log.last_index(), log.last_term()) == (6, 8, 3)
        assert [log.term(i) for i in (4, 5, 6, 8, 9)] == [None, 2, 2, 3, None]
        assert log.committed == 6 and log.stable == 8 and log.unstable_from == 9

    def test_committed_is_clamped_to_the_log(self):
        assert RaftLog(0, 0, entries(1, 1), committed=10).committed == 2

    def test_entries_must_be_contiguous(self):
        with pytest.raises(ValueError):
            RaftLog(0, 0, [Entry(1, 1), Entry(3, 1)], committed=0)

    def test_up_to_date(self):
        log = RaftLog(0, 0, entries(1, 2, 2), committed=0)
        assert log.is_up_to_date(3, 2) and log.is_up_to_date(1, 3)
        assert not log.is_up_to_date(2, 2) and not log.is_up_to_date(10, 1)

    def test_append_after_keeps_matching_entries_and_cuts_at_a_conflict(self):
        log = RaftLog(0, 0, entries(1, 1, 2, 2), committed=1)
        log.unstable_from = 5  # everything handed to storage already
        last, cut = log.append_after(1, entries(1, 2, start=2))
        assert (last, cut) == (3, None) and log.last_index() == 4  # a prefix: nothing changes
        last, cut = log.append_after(2, entries(3, 3, 3, start=3))
        assert (last, cut) == (5, 3)
        assert [e.term for e in log.entries] == [1, 1, 3, 3, 3]
        assert log.truncate_from == 3 and log.unstable_from == 3 and log.stable == 2

    def test_truncating_a_committed_entry_is_a_bug(self):
        log = RaftLog(0, 0, entries(1, 1, 1), committed=2)
        with pytest.raises(AssertionError):
            log.append_after(1, entries(2, start=2))

    def test_find_conflict_by_term(self):
        # index: 1 2 3 4 5 6 7 8 9 (leader of etcd's example)
        log = RaftLog(0, 0, entries(1, 3, 3, 3, 5, 5, 5, 5, 5), committed=0)
        assert log.find_conflict_by_term(6, 2) == (1, 1)
        assert log.find_conflict_by_term(9, 5) == (9, 5)
        assert log.find_conflict_by_term(9, 4) == (4, 3)
        assert log.find_conflict_by_term(9, 0) == (0, 0)
        compacted = RaftLog(4, 3, entries(5, 5, start=5), committed=4)
        assert compacted.find_conflict_by_term(6, 4) == (4, 3)
        assert compacted.find_conflict_by_term(2, 1) == (2, 0)  # below the snapshot: unknown

    def test_slice_limited_by_count_and_bytes(self):
        log = RaftLog(0, 0, [Entry(i, 1, data=b"x" * 10) for i in range(1, 11)], committed=0)
        assert len(log.slice_limited(1, 4, 1000)) == 4
        assert len(log.slice_limited(1, 100, 35)) == 3
        assert len(log.slice_limited(1, 100, 1)) == 1  # always at least one entry

    def test_compact_and_restore(self):
        log = RaftLog(0, 0, entries(1, 1, 2, 2), committed=4)
        log.applied = 3
        with pytest.raises(ValueError):
            log.compact(4)
        log.compact(2)
        assert (log.offset, log.offset_term, log.first_index(), log.term(2)) == (2, 1, 3, 1)
        log.restore(10, 4)
        assert (log.last_index(), log.last_term(), log.committed) == (10, 4, 10)

    def test_make_entry_builds_equal_frozen_entries(self):
        entry = make_entry(3, 2, EntryType.NORMAL, b"data")
        assert entry == Entry(3, 2, EntryType.NORMAL, b"data")
        with pytest.raises(AttributeError):
            entry.index = 4  # type: ignore[misc]


class TestProgress:
    def test_probe_sends_one_at_a_time(self):
        pr = Progress(5, max_inflight=2, is_learner=False)
        assert pr.state == PROBE and not pr.paused()
        pr.probe_sent = True
        assert pr.paused()
        assert pr.maybe_decrease(4, 1)  # rejection of the probe at prev 4, hint 1
        assert pr.next == 2 and not pr.paused()
        assert not pr.maybe_decrease(4, 1)  # stale: not the outstanding probe

    def test_replicate_window(self):
        pr = Progress(1, max_inflight=2, is_learner=False)
        assert pr.maybe_update(3)
        pr.become_replicate()
        assert pr.next == 4
        pr.inflight.extend([5, 7])
        assert pr.paused()
        pr.free_inflight_to(5)
        assert not pr.paused()
        assert not pr.maybe_decrease(2, 0)  # below match: stale
        assert pr.maybe_decrease(6, 0) and pr.next == pr.match + 1

    def test_snapshot_then_back_to_probe(self):
        pr = Progress(1, max_inflight=2, is_learner=False)
        pr.become_snapshot(50)
        assert pr.state == SNAPSHOT and pr.paused()
        assert not pr.maybe_decrease(0, 0)
        pr.maybe_update(50)
        pr.become_probe()
        assert pr.next == 51 and pr.state == PROBE
        pr.become_replicate()
        assert pr.state == REPLICATE and pr.next == 51


class TestQuorum:
    def test_quorum_value(self):
        assert quorum_value([5, 1, 3]) == 3
        assert quorum_value([5, 1, 3, 4]) == 3
        assert quorum_value([7]) == 7
        assert quorum_value([]) == -1

    def test_vote_result(self):
        voters = (1, 2, 3, 4, 5)
        assert vote_result(voters, {1: True, 2: True}) is VoteResult.PENDING
        assert vote_result(voters, {1: True, 2: True, 3: True}) is VoteResult.WON
        assert vote_result(voters, {1: True, 2: False, 3: False, 4: False}) is VoteResult.LOST
        assert vote_result(voters, {9: True, 8: True, 7: True}) is VoteResult.PENDING


class TestReads:
    def test_stamps_order_by_tick_then_request(self):
        assert tick_of(stamp_at_tick(7) + 5) == 7
        assert stamp_at_tick(8) > stamp_at_tick(7) + 1000

    def test_pending_reads_release_in_order(self):
        reads = PendingReads()
        reads.add(10, 3, b"a")
        reads.add(11, 4, b"b")
        released: list[ReadState] = []
        reads.release(10, released)
        assert released == [ReadState(b"a", 3)] and len(reads) == 1
        assert reads.drop_all() == [b"b"] and len(reads) == 0


class TestConfChange:
    def test_round_trip(self):
        for change in (
            ConfChange(ConfChangeType.ADD_VOTER, 4),
            ConfChange(ConfChangeType.REMOVE_NODE, 2**40),
            ConfChange(ConfChangeType.SET, voters=(1, 2, 3), learners=(9,)),
        ):
            assert confchange.decode(confchange.encode(change)) == change

    def test_apply_and_check(self):
        conf = ConfState((1, 2, 3))
        conf = confchange.apply(conf, ConfChange(ConfChangeType.ADD_LEARNER, 4))
        assert conf == ConfState((1, 2, 3), (4,))
        conf = confchange.apply(conf, ConfChange(ConfChangeType.PROMOTE_LEARNER, 4))
        assert conf == ConfState((1, 2, 3, 4))
        conf = confchange.apply(conf, ConfChange(ConfChangeType.REMOVE_NODE, 1))
        assert conf == ConfState((2, 3, 4))
        with pytest.raises(InvalidConfChange):
            confchange.check(conf, ConfChange(ConfChangeType.PROMOTE_LEARNER, 2))
        with pytest.raises(InvalidConfChange):
            confchange.check(ConfState((1,)), ConfChange(ConfChangeType.REMOVE_NODE, 1))
        # An entry that does not fit changes nothing (every replica agrees on that).
        assert confchange.apply(conf, ConfChange(ConfChangeType.ADD_VOTER, 2)) == conf

    def test_bootstrap_state(self):
        state = confchange.bootstrap_state((3, 1, 2))
        [entry] = state.entries
        assert entry.type is EntryType.CONF_CHANGE and (entry.index, entry.term) == (1, 1)
        assert confchange.decode(entry.data).voters == (3, 1, 2)
        assert state.hard_state.commit == 1


class TestConfig:
    def test_lease_ticks_account_for_drift(self):
        assert RaftConfig(node_id=1, election_ticks=10, max_clock_drift=0.0).lease_ticks == 9
        assert RaftConfig(node_id=1, election_ticks=10, max_clock_drift=0.1).lease_ticks == 7
        assert RaftConfig(node_id=1, lease_reads=False).lease_ticks == 0

    @pytest.mark.parametrize(
        "bad",
        [
            {"node_id": 0},
            {"node_id": 1, "heartbeat_ticks": 10, "election_ticks": 10},
            {"node_id": 1, "max_clock_drift": 1.0},
            {"node_id": 1, "max_inflight_appends": 0},
        ],
    )
    def test_invalid(self, bad):
        with pytest.raises(ValueError):
            RaftConfig(**bad)


class TestMembershipLog:
    def change(self, index: int, kind: ConfChangeType, node: int) -> Entry:
        data = confchange.encode(ConfChange(kind, node))
        return Entry(index, 1, EntryType.CONF_CHANGE, data)

    def test_changes_take_effect_on_append_and_revert_on_truncation(self):
        log = MembershipLog(0, ConfState((1, 2, 3)))
        added = self.change(5, ConfChangeType.ADD_LEARNER, 4)
        assert log.append([Entry(4, 1), added], first_new=4)
        assert log.current == ConfState((1, 2, 3), (4,)) and log.last_change_index == 5
        assert not log.append([added], first_new=6)  # already recorded
        assert log.at(4) == ConfState((1, 2, 3))
        assert not log.truncate(6)
        assert log.truncate(5) and log.current == ConfState((1, 2, 3))

    def test_compaction_keeps_the_membership_at_the_new_start(self):
        log = MembershipLog(0, ConfState((1, 2, 3)))
        log.append([self.change(2, ConfChangeType.ADD_LEARNER, 4)], first_new=2)
        log.append([self.change(7, ConfChangeType.PROMOTE_LEARNER, 4)], first_new=7)
        log.compact(5)
        assert log.at(5) == ConfState((1, 2, 3), (4,)) and log.current == ConfState((1, 2, 3, 4))
        assert log.truncate(7) and log.current == ConfState((1, 2, 3), (4,))


class TestSnapshotChunks:
    def chunk(self, offset: int, data: bytes, done: bool, src: int = 1) -> InstallSnapshot:
        meta = SnapshotMeta(9, 2, ConfState((1, 2, 3)))
        return InstallSnapshot(1, src, 2, 2, meta, offset, data, done, 0)

    def test_assembly_in_order_with_gaps_and_duplicates(self):
        assembly = SnapshotAssembly()
        assert assembly.receive(self.chunk(4, b"5678", False)) == (None, 0, True)
        assert assembly.receive(self.chunk(0, b"1234", False)) == (None, 4, False)
        assert assembly.receive(self.chunk(0, b"1234", False)) == (None, 4, False)  # duplicate
        assert assembly.receive(self.chunk(8, b"9", True)) == (None, 4, True)  # gap
        assert assembly.receive(self.chunk(4, b"5678", False)) == (None, 8, False)
        snapshot, wanted, rejected = assembly.receive(self.chunk(8, b"9", True))
        assert snapshot is not None and snapshot.data == b"123456789" and not rejected
        assert snapshot.meta.index == 9 and wanted == 9

    def test_another_leaders_chunks_start_over(self):
        assembly = SnapshotAssembly()
        assembly.receive(self.chunk(0, b"1234", False, src=1))
        assert assembly.receive(self.chunk(4, b"5678", False, src=3)) == (None, 0, True)

    def test_next_chunks_respects_the_window(self):
        pr = Progress(1, max_inflight=4, is_learner=False)
        pr.become_snapshot(9)
        snapshot = Snapshot(SnapshotMeta(9, 2), b"abcdefghij")
        assert list(next_chunks(snapshot, pr, size=4, window=2)) == [
            (0, b"abcd", False),
            (4, b"efgh", False),
        ]
        assert list(next_chunks(snapshot, pr, size=4, window=2)) == []
        pr.snap_inflight = 0
        assert list(next_chunks(snapshot, pr, size=4, window=2)) == [(8, b"ij", True)]
        assert list(next_chunks(Snapshot(), Progress(1, 1, False), size=4, window=2)) == [
            (0, b"", True)
        ]


# ---------------------------------------------------------------------- lazy commit index


def _appends_without_entries(cluster: Cluster, since: int) -> list[AppendEntries]:
    return [m for m in cluster.sent[since:] if isinstance(m, AppendEntries) and not m.entries]


def _leader_proposed_a(eager_commit: bool) -> tuple[Cluster, int]:
    """A cluster whose leader 1 proposed b"a" and settled; how many messages came before it."""
    c = Cluster(eager_commit=eager_commit)
    c.elect(1)
    c.stabilize()
    before = len(c.sent)
    c.nodes[1].propose(b"a")
    c.stabilize()
    return c, before


def test_without_eager_commit_the_commit_index_rides_on_the_next_append():
    """Under load each append carries the commit of the one before: no append of its own
    (and no answer to it) just to move the followers' commit index."""
    c, before = _leader_proposed_a(eager_commit=False)
    assert _appends_without_entries(c, before) == []
    assert c.data(1) == [b"a"] and c.data(2) == [] and c.data(3) == []  # not yet told
    c.nodes[1].propose(b"b")
    c.stabilize()
    assert _appends_without_entries(c, before) == []
    assert c.data(2) == [b"a"] == c.data(3)  # the commit came with b's append
    assert c.data(1) == [b"a", b"b"]


def test_without_eager_commit_an_idle_leader_sends_the_commit_at_the_next_tick():
    c, _ = _leader_proposed_a(eager_commit=False)
    assert c.data(2) == []
    before = len(c.sent)
    c.tick([1])
    c.stabilize()
    assert c.data(2) == [b"a"] == c.data(3)
    assert len(_appends_without_entries(c, before)) == 2  # one per follower, once
    before = len(c.sent)
    c.tick([1])
    c.stabilize()
    assert _appends_without_entries(c, before) == []  # nothing new to tell


def test_eager_commit_sends_the_commit_index_at_once():
    c, before = _leader_proposed_a(eager_commit=True)
    assert c.data(2) == [b"a"] == c.data(3)
    assert len(_appends_without_entries(c, before)) == 2

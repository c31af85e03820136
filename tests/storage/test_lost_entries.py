"""Storage tells its caller when what it found may be less than what the node had promised
(acknowledged entries, a commit index, an installed snapshot): a torn record cut off the
tail, a commit index above the last entry held, a snapshot file above the log. It tells it
before it repairs anything, so that a crash in between cannot erase the evidence."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from node.identity import (
    NEW,
    REJOINING,
    VERIFIED,
    Identity,
    IdentityKeeper,
    load_identity,
    save_identity,
)
from node.lost_disk import LostDiskGuard
from node.raft import MultiRaft, RaftConfig, VoteHold
from node.raft.types import ConfState, HardState, Snapshot, SnapshotMeta
from node.storage import EntriesRecord, HardStateRecord, NodeStorage
from node.storage.records import encode
from node.storage.segments import list_segments
from tests.storage.support import RecordingSyncer, entries

CONF = ConfState((1, 2, 3))


def open_storage(root: Path, reports: list[list[str]] | None = None):
    sink = reports.append if reports is not None else None
    return NodeStorage.open(root, syncer=RecordingSyncer(), on_suspected_loss=sink)


def write(root: Path, *batches: list) -> None:
    storage, _ = open_storage(root)
    for batch in batches:
        storage.commit(batch)
    storage.close()


def newest_segment(root: Path) -> Path:
    return list_segments(root / "wal")[-1][1]


def test_a_clean_restart_and_a_crash_into_preallocated_zeros_report_nothing(tmp_path):
    write(tmp_path, [EntriesRecord(1, entries(1, 5, term=1)), HardStateRecord(1, HardState(1))])
    reports: list[list[str]] = []
    storage, restored = open_storage(tmp_path, reports)
    storage.commit([EntriesRecord(1, entries(6, 1, term=1))])
    # Killed without close: the segment ends in the zeros written ahead of the records.
    storage.wal._current.close()
    storage, restored = open_storage(tmp_path, reports)
    assert reports == []
    assert restored[1].entries[-1].index == 6
    storage.close()


def test_a_torn_record_is_reported_before_the_tail_is_cut(tmp_path):
    write(tmp_path, [EntriesRecord(1, entries(1, 5, term=1))])
    segment = newest_segment(tmp_path)
    whole = segment.read_bytes()
    record = encode(EntriesRecord(1, entries(6, 2, term=1)))
    segment.write_bytes(whole + record[: len(record) // 2])
    sizes: list[int] = []

    def report(findings: list[str]) -> None:
        sizes.append(segment.stat().st_size)  # nothing repaired yet
        reports.append(findings)

    reports: list[list[str]] = []
    storage, restored = NodeStorage.open(
        tmp_path, syncer=RecordingSyncer(), on_suspected_loss=report
    )
    assert sizes == [len(whole) + len(record) // 2]
    assert len(reports) == 1 and "torn" in reports[0][0]
    assert restored[1].entries[-1].index == 5
    assert segment.stat().st_size == len(whole)  # cut after the report
    storage.close()


def test_a_failing_report_leaves_the_evidence_on_disk(tmp_path):
    write(tmp_path, [EntriesRecord(1, entries(1, 5, term=1))])
    segment = newest_segment(tmp_path)
    record = encode(EntriesRecord(1, entries(6, 2, term=1)))
    torn = segment.read_bytes() + record[:-3]
    segment.write_bytes(torn)

    def refuse(findings: list[str]) -> None:
        raise OSError("identity not writable")

    with pytest.raises(OSError):
        NodeStorage.open(tmp_path, syncer=RecordingSyncer(), on_suspected_loss=refuse)
    assert segment.read_bytes() == torn


def test_a_commit_index_above_the_last_entry_is_reported(tmp_path):
    write(
        tmp_path, [EntriesRecord(1, entries(1, 5, term=1)), HardStateRecord(1, HardState(2, 1, 9))]
    )
    reports: list[list[str]] = []
    storage, _ = open_storage(tmp_path, reports)
    assert len(reports) == 1 and "group 1" in reports[0][0] and "9" in reports[0][0]
    storage.close()


def test_a_snapshot_file_above_the_log_is_reported(tmp_path):
    """A snapshot installed from a leader is written before its WAL marker; a file above the
    log with no marker means the marker (and the acknowledgement it allowed) may be lost."""
    storage, _ = open_storage(tmp_path)
    storage.commit([EntriesRecord(3, entries(1, 4, term=1))])
    storage.save_snapshot(3, Snapshot(SnapshotMeta(40, 2, CONF), b"state"))
    storage.close()
    reports: list[list[str]] = []
    storage, restored = open_storage(tmp_path, reports)
    assert len(reports) == 1 and "group 3" in reports[0][0] and "40" in reports[0][0]
    assert restored[3].snapshot is None  # the leftover file is not trusted, as before
    storage.close()


def test_a_suspected_loss_makes_a_verified_node_rejoin_durably_before_the_repair(tmp_path):
    """The host's start-up path: identity loaded, storage opened with the guard's report,
    replicas added, guard started: every replica holds its votes until caught up."""
    write(tmp_path / "raft", [EntriesRecord(1, entries(1, 5, term=1))])
    save_identity(tmp_path, Identity(77, VERIFIED, {2: 5, 3: 6}))
    segment = newest_segment(tmp_path / "raft")
    record = encode(EntriesRecord(1, entries(6, 2, term=1)))
    segment.write_bytes(segment.read_bytes() + record[:-1])
    guard = LostDiskGuard(1, tmp_path, 3)

    async def start() -> MultiRaft:
        await guard.load(had_data=True)
        storage, restored = NodeStorage.open(
            tmp_path / "raft",
            syncer=RecordingSyncer(),
            on_suspected_loss=guard.storage_suspects_loss,
        )
        storage.close()
        multi = MultiRaft(1, random.Random(1))
        multi.add_group(RaftConfig(node_id=1, group_id=1), restored[1])

        async def run_on_disk(function, *args):
            return function(*args)

        guard.start(multi, run_on_disk, lambda: None, lambda: None)
        return multi

    multi = asyncio.run(start())
    assert load_identity(tmp_path, had_data=True) == Identity(
        77, REJOINING, {2: 5, 3: 6}, suspected=True
    )
    assert multi.group(1).vote_hold is VoteHold.UNTIL_CAUGHT_UP
    # A second start finds no torn tail any more, but the identity remembers.
    assert asyncio.run(start()).group(1).vote_hold is VoteHold.UNTIL_CAUGHT_UP


def test_only_a_verified_directory_turns_rejoining():
    for state, expected, write_needed in (
        (VERIFIED, REJOINING, True),
        (REJOINING, REJOINING, False),
        (NEW, NEW, False),  # holds its votes already; its answers never counted
    ):
        keeper = IdentityKeeper(3, Identity(5, state))
        assert keeper.suspect_loss() is write_needed
        assert keeper.state == expected

"""Group commit without threads: a hand-run executor shows how submissions are batched."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from node.raft.types import Entry, HardState
from node.storage import (
    DeferredExecutor,
    EntriesRecord,
    GroupCommitter,
    HardStateRecord,
    InlineExecutor,
    NodeStorage,
    WriterFailed,
    replay,
)
from node.storage.group_commit import run_here
from tests.storage.support import RecordingSyncer


class ManualExecutor:
    """Holds each job until the test runs it, as a writer thread busy with an fsync would."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Callable[[], object], Callable[[BaseException | None], None]]] = []

    def run(self, job, done) -> None:
        self.jobs.append((job, done))

    def finish_next(self) -> None:
        run_here(*self.jobs.pop(0))


def entry_record(group: int, index: int) -> EntriesRecord:
    return EntriesRecord(group, [Entry(index, 1, data=b"%d:%d" % (group, index))])


def test_submissions_during_a_write_share_the_next_batch_and_its_one_fsync(tmp_path):
    syncer = RecordingSyncer()
    storage, _ = NodeStorage.open(tmp_path, syncer=syncer)
    syncs_at_open = syncer.file_syncs
    executor = ManualExecutor()
    committer = GroupCommitter(storage.commit, executor)
    first = committer.submit([entry_record(0, 1)])
    assert committer.busy and len(executor.jobs) == 1
    # While the first batch is on its way to disk, 64 groups each submit an entry and a
    # hard state.
    tickets = [
        committer.submit([entry_record(g, 1 if g else 2), HardStateRecord(g, HardState(1, 0, 1))])
        for g in range(64)
    ]
    assert committer.waiting == 64 and len(executor.jobs) == 1
    executor.finish_next()
    assert first.done and first.batch == 1 and first.error is None
    assert not any(t.done for t in tickets)
    assert len(executor.jobs) == 1  # the next batch started as soon as the first finished
    executor.finish_next()
    assert all(t.done and t.batch == 2 and t.error is None for t in tickets)
    assert committer.batches == 2
    assert syncer.file_syncs - syncs_at_open == 2  # 65 submissions, 64 groups, 2 fsyncs
    storage.close()
    restored = replay(tmp_path / "wal")
    assert len(restored) == 64
    assert [e.index for e in restored[0].entries] == [1, 2]


def test_callbacks_run_when_durable_and_at_once_when_already_done():
    executor = ManualExecutor()
    written: list[list] = []
    committer = GroupCommitter(written.append, executor)
    seen: list[int] = []
    ticket = committer.submit([entry_record(1, 1)])
    ticket.add_done_callback(lambda t: seen.append(t.batch))
    assert seen == []
    executor.finish_next()
    assert seen == [1] and written == [[entry_record(1, 1)]]
    ticket.add_done_callback(lambda t: seen.append(-t.batch))
    assert seen == [1, -1]


def test_an_empty_submission_is_a_barrier_behind_earlier_ones():
    executor = ManualExecutor()
    committer = GroupCommitter(lambda records: None, executor)
    committer.submit([entry_record(1, 1)])
    barrier = committer.submit([])
    executor.finish_next()
    assert not barrier.done
    executor.finish_next()
    assert barrier.done and barrier.batch == 2


def test_a_failed_write_fails_its_batch_and_everything_after():
    executor = ManualExecutor()
    calls = []

    def write(records):
        calls.append(records)
        raise OSError(28, "No space left on device")

    committer = GroupCommitter(write, executor)
    failing = committer.submit([entry_record(1, 1)])
    queued = committer.submit([entry_record(1, 2)])
    executor.finish_next()
    assert isinstance(failing.error, OSError)
    assert isinstance(queued.error, WriterFailed)
    later = committer.submit([entry_record(1, 3)])
    assert later.done and isinstance(later.error, WriterFailed)
    assert len(calls) == 1 and executor.jobs == []


def test_inline_executor_writes_each_submission_at_once(tmp_path):
    syncer = RecordingSyncer()
    storage, _ = NodeStorage.open(tmp_path, syncer=syncer)
    committer = GroupCommitter(storage.commit, InlineExecutor())
    before = syncer.file_syncs
    tickets = [committer.submit([entry_record(1, i)]) for i in range(1, 6)]
    assert all(t.done and t.error is None for t in tickets)
    assert [t.batch for t in tickets] == [1, 2, 3, 4, 5]
    assert syncer.file_syncs - before == 5
    storage.close()


def test_deferred_executor_writes_nothing_until_flushed_then_everything_in_order():
    executor = DeferredExecutor()
    written: list[list] = []
    committer = GroupCommitter(written.append, executor)
    first = committer.submit([entry_record(1, 1)])
    second = committer.submit([entry_record(1, 2)])
    third = committer.submit([entry_record(1, 3)])
    assert written == [] and not first.done
    executor.flush()
    # The first batch went alone (handed over at once); the two behind it share the next.
    assert [[r.entries[0].index for r in batch] for batch in written] == [[1], [2, 3]]
    assert [t.batch for t in (first, second, third)] == [1, 2, 2]
    executor.flush()  # nothing held: nothing written
    assert len(written) == 2


def test_deferred_executor_reports_a_failed_write_to_its_tickets():
    def write(records):
        raise OSError(5, "Input/output error")

    executor = DeferredExecutor()
    committer = GroupCommitter(write, executor)
    tickets = [committer.submit([entry_record(1, i)]) for i in (1, 2)]
    executor.flush()
    assert isinstance(tickets[0].error, OSError)
    assert isinstance(tickets[1].error, WriterFailed)
    later = committer.submit([entry_record(1, 3)])
    assert later.done and isinstance(later.error, WriterFailed)


def test_a_callback_that_submits_again_is_batched_after(tmp_path):
    executor = ManualExecutor()
    written: list[list] = []
    committer = GroupCommitter(written.append, executor)
    follow_up = []
    ticket = committer.submit([entry_record(1, 1)])
    ticket.add_done_callback(lambda t: follow_up.append(committer.submit([entry_record(1, 2)])))
    executor.finish_next()
    assert len(follow_up) == 1 and not follow_up[0].done
    executor.finish_next()
    assert follow_up[0].done and len(written) == 2


@pytest.mark.parametrize("count", [1, 7])
def test_records_keep_their_submission_order_within_a_batch(count):
    executor = ManualExecutor()
    written: list[list] = []
    committer = GroupCommitter(written.append, executor)
    committer.submit([entry_record(9, 0)])
    for i in range(1, count + 1):
        committer.submit([entry_record(1, i), entry_record(2, i)])
    executor.finish_next()
    executor.finish_next()
    expected = [r for i in range(1, count + 1) for r in (entry_record(1, i), entry_record(2, i))]
    assert written[1] == expected

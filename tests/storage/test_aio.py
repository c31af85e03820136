"""The asyncio adapter: batches written on one writer thread or on the loop, awaited on the
loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from node.raft.types import Entry, Snapshot, SnapshotMeta
from node.storage import EntriesRecord, NodeStorage, WriterFailed, replay, snapshot_records
from node.storage.aio import AsyncGroupCommit
from tests.storage.support import RecordingSyncer


class ThreadRecordingSyncer(RecordingSyncer):
    def __init__(self) -> None:
        super().__init__()
        self.threads: set[str] = set()

    def sync_file(self, fd: int) -> None:
        self.threads.add(threading.current_thread().name)
        super().sync_file(fd)


def test_concurrent_commits_are_durable_and_share_fsyncs(tmp_path):
    syncer = ThreadRecordingSyncer()
    storage, _ = NodeStorage.open(tmp_path, syncer=syncer)
    before = syncer.file_syncs
    syncer.threads.clear()

    async def main() -> int:
        commit = AsyncGroupCommit(storage.commit)

        async def propose(group: int) -> None:
            for index in range(1, 4):
                await commit.commit([EntriesRecord(group, [Entry(index, 1, data=b"p")])])

        await asyncio.gather(*(propose(group) for group in range(50)))
        await commit.close()
        return commit.committer.batches

    batches = asyncio.run(main())
    storage.close()
    # 150 commits; each round of 50 is submitted before the writer reports back.
    assert batches < 150
    assert syncer.file_syncs - before == batches
    assert all(name.startswith("wal-writer") for name in syncer.threads)
    restored = replay(tmp_path / "wal")
    assert sorted(restored) == list(range(50))
    assert all([e.index for e in r.entries] == [1, 2, 3] for r in restored.values())


def test_on_the_loop_a_batch_is_written_when_awaited_on_the_loop_thread(tmp_path):
    syncer = ThreadRecordingSyncer()
    storage, _ = NodeStorage.open(tmp_path, syncer=syncer)
    syncer.threads.clear()

    async def main() -> None:
        commit = AsyncGroupCommit(storage.commit, on_loop=True)
        before = syncer.file_syncs
        first = commit.submit([EntriesRecord(1, [Entry(1, 1, data=b"a")])])
        second = commit.submit([EntriesRecord(1, [Entry(2, 1, data=b"b")])])
        await asyncio.sleep(0.01)
        assert syncer.file_syncs == before and not first.done  # nothing until awaited
        await commit.durable(second)
        assert first.done and second.done and first.error is None
        assert syncer.file_syncs - before == 2  # the second was queued behind the first
        await commit.commit([EntriesRecord(2, [Entry(1, 1, data=b"c")])])
        pending = commit.submit([EntriesRecord(2, [Entry(2, 1, data=b"d")])])
        await commit.close()  # writes what is still held
        assert pending.done and pending.error is None

    asyncio.run(main())
    storage.close()
    assert syncer.threads == {threading.current_thread().name}
    restored = replay(tmp_path / "wal")
    assert {g: [e.index for e in r.entries] for g, r in restored.items()} == {1: [1, 2], 2: [1, 2]}


@pytest.mark.parametrize("on_loop", [False, True])
def test_snapshot_files_are_written_on_the_writer_thread_then_committed(tmp_path, on_loop):
    storage, _ = NodeStorage.open(tmp_path, syncer=RecordingSyncer())
    meta = SnapshotMeta(3, 1)

    async def main() -> None:
        commit = AsyncGroupCommit(storage.commit, on_loop=on_loop)
        await commit.commit([EntriesRecord(1, [Entry(i, 1) for i in range(1, 6)])])
        await commit.run(storage.save_snapshot, 1, Snapshot(meta, b"image"))
        await commit.commit(snapshot_records(1, meta, replaces_log=False))
        await commit.close()

    asyncio.run(main())
    storage.close()
    _, restored = NodeStorage.open(tmp_path, syncer=RecordingSyncer())
    assert restored[1].snapshot == Snapshot(meta, b"image")
    assert [e.index for e in restored[1].entries] == [4, 5]


@pytest.mark.parametrize("on_loop", [False, True])
def test_a_failing_write_raises_in_every_waiting_commit(on_loop):
    def write(records):
        raise OSError(5, "Input/output error")

    async def main() -> list:
        commit = AsyncGroupCommit(write, on_loop=on_loop)
        results = await asyncio.gather(
            *(commit.commit([EntriesRecord(1, [Entry(i, 1)])]) for i in range(1, 4)),
            return_exceptions=True,
        )
        with pytest.raises(WriterFailed):
            await commit.commit([EntriesRecord(1, [Entry(9, 1)])])
        await commit.close()
        return results

    results = asyncio.run(main())
    assert isinstance(results[0], OSError)
    assert all(isinstance(r, (OSError, WriterFailed)) for r in results)

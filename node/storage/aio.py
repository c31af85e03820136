"""The asyncio adapter: group commit with batches written on one writer thread.

Create it on the event loop thread; `await commit(records)` returns once the records are
durable. Cancelling the await does not withdraw the records: they are written anyway.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

from node.storage.errors import WriterFailed
from node.storage.group_commit import DoneCallback, GroupCommitter, Ticket
from node.storage.records import Record

T = TypeVar("T")


class _WriterThread:
    """Executor for GroupCommitter: jobs run in order on one thread, `done` back on the loop.

    A plain thread fed by a SimpleQueue, not a ThreadPoolExecutor: the executor's hand-off
    (Python-level locks, work items, concurrent futures chained to asyncio ones) cost about
    twice the CPU per batch of this one (a C queue and one call_soon_threadsafe), and every
    Ready cycle that writes pays it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._jobs: queue.SimpleQueue[tuple[Callable[[], object], DoneCallback] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._work, name="wal-writer", daemon=True)
        self._thread.start()

    def run(self, job: Callable[[], object], done: DoneCallback) -> None:
        self._jobs.put((job, done))

    def _work(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            job, done = item
            error: BaseException | None = None
            try:
                job()
            except BaseException as failure:  # reported to the loop, which stops the node
                error = failure
            try:
                self._loop.call_soon_threadsafe(done, error)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                return

    def stop(self) -> None:
        """Finish the queued jobs, then end the thread."""
        self._jobs.put(None)
        self._thread.join()


class AsyncGroupCommit:
    def __init__(
        self,
        write: Callable[[list[Record]], object],
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        """write(records) makes records durable (e.g. NodeStorage.commit); it runs on the
        writer thread, one batch at a time."""
        self._loop = loop or asyncio.get_running_loop()
        self._writer = _WriterThread(self._loop)
        self.committer = GroupCommitter(write, self._writer)

    async def commit(self, records: Iterable[Record]) -> None:
        """Return once the records are durable; raise if writing them failed."""
        await self.durable(self.committer.submit(records))

    def submit(self, records: Iterable[Record]) -> Ticket:
        """The callback form of `commit`, cheaper for a loop that persists many groups'
        Readies: the ticket's callbacks run on the event loop once the records are durable."""
        return self.committer.submit(records)

    async def durable(self, ticket: Ticket) -> None:
        """Return once a submission's records are durable; raise if writing them failed."""
        await self._wait(ticket)

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """Run other disk work (e.g. writing a snapshot file) on the writer thread, in turn
        with the batches."""
        future: asyncio.Future[T] = self._loop.create_future()
        outcome: list[T] = []

        def settle(error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(outcome[0])

        self._writer.run(lambda: outcome.append(function(*args)), settle)
        return await future

    async def close(self) -> None:
        """Wait for everything submitted to be written, then stop the writer thread."""
        try:
            await self._wait(self.committer.submit(()))
        except WriterFailed:
            pass  # already raised in every commit it concerned
        finally:
            await asyncio.get_running_loop().run_in_executor(None, self._writer.stop)

    def _wait(self, ticket: Ticket) -> asyncio.Future[None]:
        future: asyncio.Future[None] = self._loop.create_future()

        def resolve(done: Ticket) -> None:
            if future.done():
                return
            if done.error is not None:
                future.set_exception(done.error)
            else:
                future.set_result(None)

        ticket.add_done_callback(resolve)
        return future

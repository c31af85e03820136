"""The asyncio adapter: group commit with batches written on the event loop or on one
writer thread.

Create it on the event loop thread; `await commit(records)` returns once the records are
durable. Cancelling the await does not withdraw the records: they are written anyway.

On the loop (`on_loop=True`) a submitted batch is written when something waits for it
(`durable`, `commit`, `close`), so a caller can submit, send and apply, and only then block
the loop for the write and fsync. That blocks this process only; where several busy processes
share few cores (three nodes and a router on two), the other processes use the core
meanwhile, and no thread hand-off or GIL contention is paid per batch (about a fifth of a
node's CPU per SET: docs/DESIGN.md, "Why the event loop writes the WAL"). On a writer thread
the loop keeps running during the fsync, which suits a process that has a core to itself.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
from collections.abc import Callable, Iterable
from typing import TypeVar

from node.storage.errors import WriterFailed
from node.storage.group_commit import DeferredExecutor, DoneCallback, GroupCommitter, Ticket
from node.storage.records import Record

T = TypeVar("T")


class _WriterThread:
    """Executor for GroupCommitter: the job runs on the thread, `done` back on the loop.

    The job's concurrent future calls back into the loop directly: loop.run_in_executor
    would wrap it in an asyncio future chained to it, which cost 30-48 µs of the loop
    thread's CPU per batch instead of 16-34 (an empty job, measured both ways), and every
    Ready cycle that writes pays it."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, pool: concurrent.futures.ThreadPoolExecutor
    ) -> None:
        self._loop = loop
        self._pool = pool

    def run(self, job: Callable[[], object], done: DoneCallback) -> None:
        loop = self._loop

        def finished(future: concurrent.futures.Future) -> None:
            # RuntimeError: the loop is closed, nobody waits for this batch any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(done, _error_of(future))

        self._pool.submit(job).add_done_callback(finished)


def _error_of(future: concurrent.futures.Future) -> BaseException | None:
    if future.cancelled():
        return asyncio.CancelledError("the WAL writer was shut down")
    return future.exception()


class AsyncGroupCommit:
    def __init__(
        self,
        write: Callable[[list[Record]], object],
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        on_loop: bool = False,
    ) -> None:
        """write(records) makes records durable (e.g. NodeStorage.commit); it runs one batch
        at a time, on the loop when awaited (on_loop) or on the writer thread."""
        self._loop = loop or asyncio.get_running_loop()
        # Also for `run` (snapshot files) in both modes: those may be large.
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="wal-writer")
        self._deferred = DeferredExecutor() if on_loop else None
        executor = self._deferred or _WriterThread(self._loop, self._pool)
        self.committer = GroupCommitter(write, executor)

    async def commit(self, records: Iterable[Record]) -> None:
        """Return once the records are durable; raise if writing them failed."""
        await self.durable(self.committer.submit(records))

    def submit(self, records: Iterable[Record]) -> Ticket:
        """The callback form of `commit`, cheaper for a loop that persists many groups'
        Readies: the ticket's callbacks run on the event loop once the records are durable
        (on the loop: once something waits for them, see `durable`)."""
        return self.committer.submit(records)

    async def durable(self, ticket: Ticket) -> None:
        """Return once a submission's records are durable; raise if writing them failed."""
        if self._deferred is not None:
            self._deferred.flush()
        await self._wait(ticket)

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """Run other disk work (e.g. writing a snapshot file) on the writer thread: in turn
        with the batches written there; batches written on the loop are not ordered with it
        (a caller that needs an order awaits one before starting the other, as the node's
        Ready cycle does)."""
        return await self._loop.run_in_executor(self._pool, functools.partial(function, *args))

    async def close(self) -> None:
        """Wait for everything submitted to be written, then stop the writer thread."""
        try:
            await self.durable(self.committer.submit(()))
        except WriterFailed:
            pass  # already raised in every commit it concerned
        finally:
            self._pool.shutdown(wait=True)

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

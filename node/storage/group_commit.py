"""Group commit: records of every group accumulate in one batch while the previous batch is
being written; one write and one fsync then cover the whole batch.

The logic here has no threads: where a batch is written is up to an `Executor` (the asyncio
adapter in aio.py runs it on the event loop when it is awaited, or on one writer thread; tests
run it by hand; `InlineExecutor` runs it at once). Everything in this class runs on the
caller's thread (the node's event loop), including the executor's `done` callback.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Protocol

from node.storage.errors import WriterFailed
from node.storage.records import Record

DoneCallback = Callable[[BaseException | None], None]


class Executor(Protocol):
    def run(self, job: Callable[[], object], done: DoneCallback) -> None:
        """Run job (possibly elsewhere), then call done(error or None) on the caller's thread."""


class InlineExecutor:
    """Runs each batch at once on the calling thread: no overlap, so no batching beyond what
    one submit carries. For synchronous callers and tests."""

    def run(self, job: Callable[[], object], done: DoneCallback) -> None:
        run_here(job, done)


def run_here(job: Callable[[], object], done: DoneCallback) -> None:
    """Run job on this thread, then done(the error it raised, or None)."""
    try:
        job()
    except Exception as error:
        done(error)
    else:
        done(None)


class DeferredExecutor:
    """Holds each batch until `flush()` runs it on the calling thread. An event loop can
    hand a batch over early and still send and apply before the write blocks it."""

    def __init__(self) -> None:
        self._jobs: deque[tuple[Callable[[], object], DoneCallback]] = deque()

    def run(self, job: Callable[[], object], done: DoneCallback) -> None:
        self._jobs.append((job, done))

    def flush(self) -> None:
        """Write every held batch (and any its completion starts), in order."""
        while self._jobs:
            run_here(*self._jobs.popleft())


class Ticket:
    """The promise that a submission becomes durable."""

    __slots__ = ("_callbacks", "batch", "done", "error")

    def __init__(self) -> None:
        self.done = False
        self.error: BaseException | None = None
        self.batch = 0  # which write covered it (1 for the first), once done
        self._callbacks: list[Callable[[Ticket], object]] = []

    def add_done_callback(self, callback: Callable[[Ticket], object]) -> None:
        """Call callback(ticket) once done (at once if it already is)."""
        if self.done:
            callback(self)
        else:
            self._callbacks.append(callback)

    def _resolve(self, batch: int, error: BaseException | None) -> None:
        self.done, self.batch, self.error = True, batch, error
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)


class GroupCommitter:
    def __init__(self, write: Callable[[list[Record]], object], executor: Executor) -> None:
        """write(records) must make the records durable (e.g. NodeStorage.commit)."""
        self._write = write
        self._executor = executor
        self._records: list[Record] = []
        self._tickets: list[Ticket] = []
        self._in_flight = False
        self._failed: BaseException | None = None
        self.batches = 0  # writes started so far

    def submit(self, records: Iterable[Record]) -> Ticket:
        """Queue records for the next batch. An empty submission is a barrier: its ticket is
        done when everything submitted before it is durable."""
        ticket = Ticket()
        if self._failed is not None:
            ticket._resolve(0, WriterFailed(f"an earlier WAL write failed: {self._failed!r}"))
            return ticket
        self._records.extend(records)
        self._tickets.append(ticket)
        if not self._in_flight:
            self._start()
        return ticket

    @property
    def busy(self) -> bool:
        """A batch is being written."""
        return self._in_flight

    @property
    def waiting(self) -> int:
        """Submissions queued for the next batch."""
        return len(self._tickets)

    def _start(self) -> None:
        records, tickets = self._records, self._tickets
        self._records, self._tickets = [], []
        self._in_flight = True
        self.batches += 1
        batch = self.batches
        self._executor.run(
            lambda: self._write(records),
            lambda error: self._finished(batch, tickets, error),
        )

    def _finished(self, batch: int, tickets: list[Ticket], error: BaseException | None) -> None:
        self._in_flight = False
        if error is not None:
            # After a failed write or fsync nothing later may be acknowledged: the node must
            # restart and replay what is really on disk.
            self._failed = error
            waiting, self._tickets, self._records = self._tickets, [], []
            for ticket in tickets:
                ticket._resolve(batch, error)
            for ticket in waiting:
                ticket._resolve(0, WriterFailed(f"an earlier WAL write failed: {error!r}"))
            return
        if self._tickets:
            self._start()  # keep the disk busy before running callbacks
        for ticket in tickets:
            ticket._resolve(batch, None)

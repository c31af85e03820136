"""MULTI/EXEC/WATCH: one connection's state, as Redis's multiState and watched keys, and
WATCH and EXEC themselves.

Everything of a transaction runs on one shard as one log entry: queued commands and
watched keys fix that shard; a command bound to another shard is refused at queue time
with CROSSSLOT and, like any queue-time error, makes EXEC fail with EXECABORT.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from proto import errors
from proto.commands import CommandSpec
from proto.resp import OK, encode
from router import replies
from router.backend import Backend, BackendError, ScriptCaller, Watch, WriteMarks
from router.errors import INTERNAL
from router.planner import Planner

QUEUED_REPLY = b"+QUEUED\r\n"
CROSSSLOT_REPLY = replies.error(errors.CROSSSLOT)


@dataclass(frozen=True, slots=True)
class Queued:
    args: list[bytes]
    spec: CommandSpec
    local: bool  # answered by the router itself when EXEC runs


class Transaction:
    __slots__ = ("active", "dirty", "queued", "shard", "watch_shard", "watches")

    def __init__(self) -> None:
        self.active = False  # between MULTI and EXEC/DISCARD
        self.dirty = False  # a queue-time error happened: EXEC will abort
        self.queued: list[Queued] = []
        self.shard: int | None = None  # fixed by the first shard-bound queued command
        self.watches: list[Watch] = []
        self.watch_shard: int | None = None

    @property
    def bound_shard(self) -> int | None:
        return self.shard if self.shard is not None else self.watch_shard

    def begin(self) -> bool:
        """MULTI: False if already in MULTI (Redis refuses nesting)."""
        if self.active:
            return False
        self.active = True
        return True

    def queue(self, args: list[bytes], spec: CommandSpec, shard: int | bytes | None) -> bytes:
        """Queue a command whose shard is `shard` (None: any, bytes: an error reply
        found by the planner); returns the reply to send now."""
        if type(shard) is bytes:
            self.dirty = True
            return shard
        if shard is not None:
            bound = self.bound_shard
            if bound is not None and bound != shard:
                self.dirty = True
                return CROSSSLOT_REPLY
            self.shard = shard  # type: ignore[assignment]
        self.queued.append(Queued(args, spec, local=False))
        return QUEUED_REPLY

    def queue_local(self, args: list[bytes], spec: CommandSpec) -> bytes:
        self.queued.append(Queued(args, spec, local=True))
        return QUEUED_REPLY

    def flag_error(self) -> None:
        """A command was refused while queuing (unknown, wrong arity, ...)."""
        if self.active:
            self.dirty = True

    def watch(self, shard: int, watches: list[Watch]) -> bytes | None:
        """Add watched keys on `shard`; the CROSSSLOT reply if they are elsewhere than
        the keys already watched."""
        if self.watch_shard is not None and self.watch_shard != shard:
            return CROSSSLOT_REPLY
        self.watch_shard = shard
        self.watches.extend(watches)
        return None

    def unwatch(self) -> None:
        self.watches = []
        self.watch_shard = None

    def take(self) -> tuple[list[Queued], int | None, list[Watch], bool]:
        """EXEC: the queued commands, their shard, the watches and whether the queue had
        errors; the connection leaves MULTI and forgets its watches."""
        taken = (self.queued, self.bound_shard, self.watches, self.dirty)
        self.discard()
        return taken

    def discard(self) -> None:
        self.active = False
        self.dirty = False
        self.queued = []
        self.shard = None
        self.unwatch()


async def watch(
    transaction: Transaction, keys: list[bytes], planner: Planner, backend: Backend, db: int = 0
) -> bytes:
    """WATCH: the keys' digests, read on their shard (all keys of one shard, the shard of
    the keys watched before); the encoded reply."""
    shards = planner.shards_of_keys(keys)
    if len(shards) > 1:
        return CROSSSLOT_REPLY
    (shard,) = shards
    if transaction.watch_shard not in (None, shard):
        return CROSSSLOT_REPLY
    try:
        digests = await backend.digests(shard, keys, db)
    except BackendError as failure:
        return replies.error(failure.reply)
    watches = [Watch(key, digest) for key, digest in zip(keys, digests, strict=True)]
    failed = transaction.watch(shard, watches)
    return failed if failed is not None else encode(OK)


async def execute(
    transaction: Transaction,
    resp3: bool,
    backend: Backend,
    run_local: Callable[[Queued], Awaitable[bytes]],
    marks: WriteMarks | None = None,
    refused: Callable[[Queued], bytes | None] | None = None,
    writer: int = 0,
    caller: ScriptCaller | None = None,
    db: int = 0,
) -> bytes:
    """EXEC: the shard runs the forwarded commands as one entry (unless a watched key
    changed); `run_local` runs the router-local ones after it, in their queue positions.
    The encoded reply; the entry's log index goes into `marks`. `refused` gives the
    encoded error of a queued command that may no longer run (ACL rules changed since it
    was queued): it is left out and answers that error in its place."""
    if not transaction.active:
        return replies.error(errors.EXEC_WITHOUT_MULTI)
    queued, shard, watches, dirty = transaction.take()
    if dirty:
        return replies.error(errors.EXECABORT)
    refusals: dict[int, bytes] = {}
    if refused is not None:
        for position, item in enumerate(queued):
            error = refused(item)
            if error is not None:
                refusals[position] = error
    forwarded = [
        item.args
        for position, item in enumerate(queued)
        if not item.local and position not in refusals
    ]
    shard_replies: list[bytes] = []
    if forwarded or watches:
        try:
            raw = await backend.transaction(
                shard if shard is not None else 0,
                forwarded,
                resp3,
                watches,
                marks,
                writer,
                caller,
                db,
            )
        except BackendError as failure:
            return replies.error(failure.reply)
        try:
            elements = replies.split_array(raw)
        except replies.MalformedReply as problem:
            return replies.error(INTERNAL % str(problem).encode())
        if elements is None:
            return raw  # a watched key changed (null reply) or the shard refused
        if len(elements) != len(forwarded):
            mismatch = b"EXEC of %d commands got %d replies" % (len(forwarded), len(elements))
            return replies.error(INTERNAL % mismatch)
        shard_replies = elements
    pending = iter(shard_replies)
    out: list[bytes] = []
    for position, item in enumerate(queued):
        if position in refusals:
            out.append(refusals[position])
        elif item.local:
            out.append(await run_local(item))
        else:
            out.append(next(pending))
    return replies.array(out)

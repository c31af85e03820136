"""MULTI/EXEC/WATCH state of one connection, as Redis's multiState and watched keys.

Everything of a transaction runs on one shard as one log entry: queued commands and
watched keys fix that shard; a command bound to another shard is refused at queue time
with CROSSSLOT and, like any queue-time error, makes EXEC fail with EXECABORT.
"""

from __future__ import annotations

from dataclasses import dataclass

from proto.commands import CommandSpec
from router import errors, replies
from router.backend import Watch

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

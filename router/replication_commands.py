"""WAIT, WAITAOF and ROLE, answered from the shards' Raft state, and SAVE, BGSAVE,
BGREWRITEAOF and LASTSAVE, which snapshot every shard replica on every node.

WAIT counts the followers that hold the connection's writes: for every shard it wrote to,
the followers whose match index (as the shard's leader knows it) reaches the log index of
its last acknowledged write there, the least over those shards. Every acknowledged write
is on a majority already, so WAIT 1 on a 3-replica shard answers at once, and WAIT 2 as
soon as the second follower has written it to its disk. A connection that wrote nothing
gets the number of followers each shard has. Inside MULTI, as in Redis, WAIT is queued and
answers at once when EXEC runs it.

WAITAOF takes the nodes' write-ahead log for Redis's AOF with `appendfsync always`: a write
is acknowledged only once the leader (and a majority) fsynced it, so its numlocal is always
1 (and numlocal 1 is accepted although CONFIG GET appendonly says no), and its numreplicas
counts as WAIT's does (followers acknowledge an entry after their fsync).

ROLE shows the router as a master and the nodes as its replicas: `["master", offset,
[[host, port, offset], ...]]`, where a node's offset is the sum, over the shards, of the log
index its replica holds as the shard's leader knows it (the leader's last index for its
own replica), and the master offset the sum of the leaders' last indexes. A node that does
not answer is not listed; a shard whose leader does not answer adds nothing.

SAVE asks every node to snapshot every replica it hosts (which also deletes the WAL
segments the snapshots cover) and waits; BGSAVE and BGREWRITEAOF do the same in the
background, one at a time per router, with Redis's replies when one is already running.
LASTSAVE is the earliest of the answering nodes' last saves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from dataclasses import dataclass

from proto import errors
from proto.resp import OK, Error, Reply, Simple
from router.backend import Backend, BackendError
from router.connection import ClientState
from router.connection_commands import _integer
from router.context import RouterContext
from router.local_commands import answers

log = logging.getLogger("slotraft.router")

WAITAOF_NUMLOCAL_RANGE = b"ERR value is out of range, value must between 0 and 1"
SAVE_IN_PROGRESS = b"ERR Background save already in progress"
REWRITE_IN_PROGRESS = b"ERR Background append only file rewriting already in progress"
CHILD_ACTIVE = (
    b"ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE "
    b"SCHEDULE in order to schedule a BGSAVE whenever possible."
)


# ---------------------------------------------------------------------- WAIT, WAITAOF


def _wait_timeout(client: ClientState, milliseconds: int) -> float | None:
    """WAIT's timeout as the backend takes it: 0 ms waits for ever (None); inside EXEC
    nothing waits (0 s)."""
    if client.in_exec:
        return 0.0
    return None if milliseconds == 0 else milliseconds / 1000


@answers("wait", waits=True)
async def wait(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    replicas = _integer(args[1])
    if replicas is None:
        return Error(errors.NOT_INTEGER)
    timeout = _integer(args[2])
    if timeout is None:
        return Error(errors.TIMEOUT_NOT_INTEGER)
    if timeout < 0:
        return Error(errors.TIMEOUT_NEGATIVE)
    try:
        return await ctx.backend.wait_replicated(
            dict(client.write_marks), replicas, _wait_timeout(client, timeout)
        )
    except BackendError as failure:
        return Error(failure.reply)


@answers("waitaof", waits=True)
async def waitaof(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    """Redis 7.2's argument checks, in its order: numlocal in 0..1, numreplicas positive
    (getPositiveLongFromObjectOrReply: a non-number gets the same error), the timeout as
    WAIT's."""
    numlocal = _integer(args[1])
    if numlocal is None:
        return Error(errors.NOT_INTEGER)
    if not 0 <= numlocal <= 1:
        return Error(WAITAOF_NUMLOCAL_RANGE)
    replicas = _integer(args[2])
    if replicas is None or replicas < 0:
        return Error(errors.NOT_POSITIVE)
    timeout = _integer(args[3])
    if timeout is None:
        return Error(errors.TIMEOUT_NOT_INTEGER)
    if timeout < 0:
        return Error(errors.TIMEOUT_NEGATIVE)
    try:
        holding = await ctx.backend.wait_replicated(
            dict(client.write_marks), replicas, _wait_timeout(client, timeout)
        )
    except BackendError as failure:
        return Error(failure.reply)
    return [1, holding]  # acknowledged writes are fsynced on the leader


# ---------------------------------------------------------------------- ROLE


@answers("role", waits=True)
async def role(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    try:
        replication = await ctx.backend.replication()
    except BackendError as failure:
        return Error(failure.reply)
    return [
        b"master",
        replication.offset,
        [
            [replica.host.encode(), b"%d" % replica.port, b"%d" % replica.offset]
            for replica in replication.replicas
        ],
    ]


# ---------------------------------------------------------------------- persistence

SAVE = "save"  # BGSAVE: Redis's RDB child
REWRITE = "rewrite"  # BGREWRITEAOF: Redis's AOF child


@dataclass(slots=True)
class BackgroundSaves:
    """A router's background save (BGSAVE or BGREWRITEAOF, both snapshots on every node),
    and the one scheduled to follow it, as Redis has at most one child at a time."""

    running: str | None = None
    scheduled: str | None = None
    task: asyncio.Task | None = None

    def start(self, backend: Backend, kind: str) -> None:
        self.running = kind
        self.task = asyncio.get_running_loop().create_task(self._run(backend, kind))

    async def _run(self, backend: Backend, kind: str) -> None:
        try:
            await backend.save()
        except BackendError as failure:
            log.error("background %s failed: %s", kind, failure)
        finally:
            self.running = None
            self.task = None
        follow, self.scheduled = self.scheduled, None
        if follow is not None:
            self.start(backend, follow)


_saves: weakref.WeakKeyDictionary[RouterContext, BackgroundSaves] = weakref.WeakKeyDictionary()


def background_saves(ctx: RouterContext) -> BackgroundSaves:
    saves = _saves.get(ctx)
    if saves is None:
        saves = _saves[ctx] = BackgroundSaves()
    return saves


@answers("save", waits=True)
async def save(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    if background_saves(ctx).running == SAVE:
        return Error(SAVE_IN_PROGRESS)
    try:
        await ctx.backend.save()
    except BackendError as failure:
        return Error(failure.reply)
    return OK


@answers("bgsave")
def bgsave(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    if len(args) > 2 or (len(args) == 2 and args[1].lower() != b"schedule"):
        return Error(errors.SYNTAX)
    saves = background_saves(ctx)
    if saves.running == SAVE:
        return Error(SAVE_IN_PROGRESS)
    if saves.running is not None or client.in_exec:
        if len(args) == 2 or client.in_exec:
            saves.scheduled = SAVE
            if saves.running is None:  # in EXEC: once the transaction is done
                _start_soon(ctx, saves)
            return Simple(b"Background saving scheduled")
        return Error(CHILD_ACTIVE)
    saves.start(ctx.backend, SAVE)
    return Simple(b"Background saving started")


@answers("bgrewriteaof")
def bgrewriteaof(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    saves = background_saves(ctx)
    if saves.running == REWRITE:
        return Error(REWRITE_IN_PROGRESS)
    if saves.running is not None or client.in_exec:
        saves.scheduled = REWRITE
        if saves.running is None:
            _start_soon(ctx, saves)
        return Simple(b"Background append only file rewriting scheduled")
    saves.start(ctx.backend, REWRITE)
    return Simple(b"Background append only file rewriting started")


def _start_soon(ctx: RouterContext, saves: BackgroundSaves) -> None:
    """Start the scheduled save after the current turn (EXEC's reply goes first)."""

    def start() -> None:
        if saves.running is None and saves.scheduled is not None:
            kind, saves.scheduled = saves.scheduled, None
            saves.start(ctx.backend, kind)

    asyncio.get_running_loop().call_soon(start)


@answers("lastsave", waits=True)
async def lastsave(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    try:
        return int(await ctx.backend.last_save())
    except BackendError as failure:
        return Error(failure.reply)


async def stop_background_saves(ctx: RouterContext) -> None:
    """Cancel a background save under way (the router stops)."""
    saves = _saves.pop(ctx, None)
    if saves is not None and saves.task is not None:
        saves.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await saves.task

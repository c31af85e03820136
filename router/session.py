"""One connection's command processing: parse, dispatch, execute through the backend,
reply in order.

Commands read together are executed as one batch: the router-local ones are answered
at once, and the forwarded ones are grouped per shard into one `Backend.execute` call
each, the shards running concurrently; the replies are then written in request order.
A command that must see the effect of everything before it and hold back everything after
it (a blocking command, EXEC, WATCH, INFO) is a barrier: the batch before it completes
first, then it runs alone. A change of protocol (HELLO) or of READONLY also ends a batch,
since a backend call carries one of each.

Pub/sub: the session is its connection's subscriber (`deliver`); messages are written as
they come, except while a subscription change waits for the nodes, when they are held so
that they follow its confirmation. RESP2 connections with subscriptions may only run the
commands Redis allows in that context.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from proto import errors
from proto.commands import SINGLE_KEY, CommandSpec, Flag, Unresolved, may_block, resolve
from proto.redis_config import output_limits
from proto.resp import Reply, encode_many
from proto.running_loop import running_loop
from proto.slots import key_slot
from router import replies
from router.acl_check import acl_denial, script_caller
from router.backend import BackendError
from router.config import Limits
from router.connection import ClientState
from router.context import RouterContext
from router.errors import INTERNAL
from router.local_commands import LOCAL_COMMANDS, LocalCommand
from router.metrics import command_name
from router.planner import Forward, Plan, Scatter
from router.protocol import ProtocolError, RequestParser
from router.pubsub import Frame
from router.pubsub_commands import context_error
from router.tracking import noloop_writer

# The modules of the commands the router answers itself, which register them in
# LOCAL_COMMANDS when imported.
from router import (  # noqa: F401  isort: skip
    acl_commands,
    cluster_commands,
    command_docs,
    connection_commands,
    pubsub_commands,
    replication_commands,
    server_commands,
    transaction_commands,
)

log = logging.getLogger("slotraft.router")

Barrier = Callable[[], Awaitable[bytes]]


class Transport(Protocol):
    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class _Merged:
    """A reply made from several shard replies of one batch."""

    __slots__ = ("merge", "refs")

    def __init__(self, refs: list[tuple[int, int]], merge: Callable[[list[bytes]], bytes]):
        self.refs = refs
        self.merge = merge

    def resolve(self, results: dict[int, list[bytes]]) -> bytes:
        parts = [results[shard][index] for shard, index in self.refs]
        try:
            return self.merge(parts)
        except replies.MalformedReply as problem:
            log.error("cannot merge shard replies: %s", problem)
            return replies.error(INTERNAL % str(problem).encode())


class _Batch:
    __slots__ = (
        "args",
        "barrier_args",
        "barrier_name",
        "barrier_shown",
        "commands",
        "items",
        "names",
        "readonly",
        "resp3",
        "shown",
        "started",
    )

    def __init__(self, resp3: bool, readonly: bool, started: float = 0.0) -> None:
        self.resp3 = resp3
        self.readonly = readonly
        self.commands: dict[int, list[list[bytes]]] = {}  # per shard, in request order
        # Per command with a reply to send: encoded bytes, a (shard, index) reference to
        # a shard reply, or a _Merged.
        self.items: list[bytes | tuple[int, int] | _Merged] = []
        # For the metrics: each item's command, the barrier's, and when the first came in;
        # for the slowlog, their arguments.
        self.names: list[str] = []
        self.args: list[list[bytes]] = []
        self.barrier_name = ""
        self.barrier_args: list[bytes] = []
        self.started = started
        # For MONITOR: the commands to show once their replies are out (the barrier's
        # after its own), as Redis shows a command once it ran.
        self.shown: list[tuple[CommandSpec, list[bytes]]] = []
        self.barrier_shown: list[tuple[CommandSpec, list[bytes]]] = []

    def forward(self, shard: int, args: list[bytes]) -> tuple[int, int]:
        queue = self.commands.get(shard)
        if queue is None:
            queue = self.commands[shard] = []
        queue.append(args)
        return shard, len(queue) - 1

    def add_plan(self, plan: Plan, silent: bool) -> None:
        if type(plan) is Forward:
            ref = self.forward(plan.shard, plan.args)
            if not silent:
                self.items.append(ref)
        elif type(plan) is Scatter:
            refs = [self.forward(shard, args) for shard, args in plan.pieces]
            if not silent:
                self.items.append(_Merged(refs, plan.merge))
        elif not silent:
            self.items.append(plan)  # type: ignore[arg-type]


class Session:
    def __init__(self, ctx: RouterContext, client: ClientState, transport: Transport) -> None:
        self.ctx = ctx
        self.client = client
        self.transport = transport
        self.parser = RequestParser(ctx.config.limits, authenticated=client.authenticated)
        self._shard_for_slot = ctx.backend.shard_for_slot
        self.running = False
        self.closed = False
        self._task: asyncio.Task | None = None
        self._reading_paused = False
        self._eof = False
        self._writable: asyncio.Future | None = None  # set while the transport is full
        self._held: list[bytes] | None = None  # messages held during a subscription change
        self._pushed_while_full = 0  # bytes written while the transport is full
        self._over_soft_limit_since: float | None = None  # client-output-buffer-limit
        self._arrived: float | None = None  # when the oldest unanswered bytes came in

    @property
    def buffered(self) -> int:
        return self.parser.buffered

    @property
    def output_buffered(self) -> int:
        """Reply bytes written but not yet sent (0 for a transport that cannot tell)."""
        size = getattr(self.transport, "get_write_buffer_size", None)
        return size() if size is not None else 0

    # ------------------------------------------------------------------ transport events

    def feed(self, data: bytes) -> None:
        stats = self.ctx.stats
        stats.net_input_bytes += len(data)
        stats.reads_processed += 1
        self.client.last_interaction = now = time.monotonic()
        if self._arrived is None:
            self._arrived = now
        self.parser.feed(data)
        if not self.running:
            self.running = True
            self._task = self.loop.create_task(self._run())
        elif self.parser.buffered > self.ctx.config.read_high_water and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()

    loop = running_loop

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = self.loop.create_future()

    def resume_writing(self) -> None:
        self._pushed_while_full = 0
        self._over_soft_limit_since = None
        if self._writable is not None:
            if not self._writable.done():
                self._writable.set_result(None)
            self._writable = None

    def eof_received(self) -> None:
        """The client will send nothing more: answer what it sent, then close."""
        self._eof = True
        if not self.running:
            self._close()

    def connection_lost(self) -> None:
        self.closed = True
        self.ctx.backend.pubsub.drop(self.client)
        self.ctx.monitor.remove(self.client)
        self.ctx.tracking.disable(self.client)
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self.resume_writing()

    def kill(self) -> None:
        self.transport.close()

    async def unblock(self, error: bool) -> bool:
        """CLIENT UNBLOCK: the blocking command this connection waits in is answered now
        (its timeout reply, or -UNBLOCKED); False if it waits in none."""
        if not self.client.blocked or self._task is None:
            return False
        return await self.ctx.backend.unblock(self._task, error)

    def use_limits(self, limits: Limits) -> None:
        self.parser.limits = limits

    def deliver(self, frame: Frame) -> None:
        """A message for this connection's subscriptions. A subscriber that does not read
        is disconnected past its client-output-buffer-limit (`_send`)."""
        data = frame.encoded(self.client.resp3)
        if self._held is not None:
            self._held.append(data)
            return
        self._send(data)

    # ------------------------------------------------------------------ processing loop

    async def _run(self) -> None:
        try:
            while not self.closed:
                if self._writable is not None:
                    await self._writable
                batch, count, barrier, failure = self._collect()
                if count == 0 and failure is None:
                    if self._eof:
                        self._close()
                    return
                if batch.commands or batch.items:
                    self._send(await self._execute(batch))
                if batch.shown:
                    self._show(batch.shown)
                if barrier is not None:
                    reply = await barrier()
                    self._send(reply)
                    if batch.barrier_shown:
                        self._show(batch.barrier_shown)
                    names = [batch.barrier_name]
                    elapsed = self.ctx.commands.record(names, [reply], batch.started)
                    if elapsed >= self.ctx.monitor_threshold:
                        self.ctx.observe(names, [batch.barrier_args], elapsed, self.client)
                if failure is not None:
                    self.ctx.stats.protocol_errors += 1
                    if failure.message is not None:
                        self._send(replies.error(failure.message))
                    else:  # Redis logs it too (networking.c, processInputBuffer's caller)
                        log.warning(
                            "connection %d reached the query buffer limit of %d bytes: closed",
                            self.client.id,
                            self.ctx.config.limits.max_query_buffer,
                        )
                    self._close()
                    return
                if self.client.closing:
                    self._close()
                    return
                if self._reading_paused and self.parser.buffered <= self.ctx.config.read_high_water:
                    self._reading_paused = False
                    self.transport.resume_reading()
        except asyncio.CancelledError:
            raise
        except Exception as problem:  # a router bug: say so and drop only this connection
            log.exception("connection %d failed", self.client.id)
            self._send(replies.error(INTERNAL % repr(problem).encode()))
            self._close()
        finally:
            self.running = False
            if self._reading_paused and not self.closed:
                self._reading_paused = False
                self.transport.resume_reading()

    def _collect(self) -> tuple[_Batch, int, Barrier | None, ProtocolError | None]:
        """Dispatch the commands available, up to a barrier or the batch limit.

        One-key commands (GET, SET, INCR, HSET, ...) of a connection in its ordinary state
        are routed inline, with one dict lookup and the key's slot: most of the traffic.
        Everything else goes through `_dispatch`, after which the state is read again."""
        client = self.client
        parser = self.parser
        batch = _Batch(client.resp3, client.readonly, self._arrived or time.monotonic())
        forward = batch.forward
        items = batch.items
        names = batch.names
        arguments = batch.args
        shard_for_slot = self._shard_for_slot
        limit = self.ctx.config.max_batch
        stats = self.ctx.stats
        count = 0
        counted = 0  # commands already added to stats.commands_processed
        barrier = failure = None
        last_spec = None
        inline = self._inline_allowed()
        while count < limit:
            command = parser.next_command()
            if command is None:
                break
            if type(command) is not list:
                failure = command
                break
            count += 1
            if inline:
                spec = SINGLE_KEY.get(command[0])
                if spec is not None:
                    arity = spec.arity
                    argc = len(command)
                    if argc == arity or (arity < 0 and argc >= -arity):
                        shard = shard_for_slot(key_slot(command[1]))
                        items.append(forward(shard, command))
                        names.append(spec.name)
                        arguments.append(command)
                        last_spec = spec
                        continue
            if last_spec is not None:
                client.last_command = last_spec.name
                last_spec = None
            stats.commands_processed += count - counted
            counted = count
            shown = len(batch.shown)
            barrier = self._dispatch_any(command, batch)
            if barrier is not None:
                batch.barrier_name = command_name(command)
                batch.barrier_args = command
                batch.barrier_shown = batch.shown[shown:]
                del batch.shown[shown:]
            elif len(names) < len(items):  # it has a reply in the batch
                names.append(command_name(command))
                arguments.append(command)
            parser.authenticated = client.authenticated
            if (
                barrier is not None
                or client.closing
                or client.resp3 != batch.resp3
                or client.readonly != batch.readonly
            ):
                break
            inline = self._inline_allowed()
        if last_spec is not None:
            client.last_command = last_spec.name
        stats.commands_processed += count - counted
        if not parser.buffered:
            self._arrived = None  # else the rest is timed from this batch's start, or later
        return batch, count, barrier, failure  # type: ignore[return-value]

    def _inline_allowed(self) -> bool:
        client = self.client
        ctx = self.ctx
        return client.authenticated and not (
            not ctx.acl.unrestricted(client)  # every command is checked
            or client.reply_off
            or client.skip_next_reply
            or client.transaction.active
            or client.subscribed
            or ctx.monitor.active  # every command is shown: through _dispatch_any
            or ctx.pause.active  # every command is checked
            or client.tracking is not None  # its reads' keys are remembered
        )

    def _send(self, data: bytes) -> None:
        if data and not self.closed:
            stats = self.ctx.stats
            stats.net_output_bytes += len(data)
            stats.writes_processed += 1
            self.transport.write(data)
            if self._writable is not None:  # the client does not read as fast as we write
                self._pushed_while_full += len(data)
                self._check_output_limit()

    def _check_output_limit(self) -> None:
        """Redis's client-output-buffer-limit, once the socket's own buffer is full: the
        connection is closed when its unsent replies pass its class's hard limit, or its
        soft limit for longer than the soft limit's seconds (0: no limit)."""
        # A monitor is of Redis's replica class (CLIENT_SLAVE), as its limits say.
        client = self.client
        kind = "slave" if client.monitor else "pubsub" if client.subscribed else "normal"
        hard, soft, seconds = output_limits(self.ctx.config.output_buffer_limits)[kind]
        size = self._pushed_while_full
        if hard and size > hard:
            why = f"its unsent replies passed the {kind} hard limit of {hard} bytes"
        elif soft and size > soft:
            now = time.monotonic()
            if self._over_soft_limit_since is None:
                self._over_soft_limit_since = now
                return
            if now - self._over_soft_limit_since <= seconds:
                return
            why = f"its unsent replies stayed over the {kind} soft limit for {seconds} s"
        else:
            self._over_soft_limit_since = None
            return
        log.warning("connection %d does not read fast enough: closed (%s)", self.client.id, why)
        # Its unsent replies are dropped (as Redis frees the client): a close would wait to
        # flush them to a reader that does not read, keeping its subscriptions meanwhile.
        self.closed = True
        self.transport.abort()

    def _close(self) -> None:
        self.closed = True
        self.transport.close()

    # ------------------------------------------------------------------ dispatch

    def _dispatch_any(
        self, args: list[bytes], batch: _Batch, resumed: bool = False
    ) -> Barrier | None:
        client = self.client
        skip = client.skip_next_reply
        silent = client.reply_off or skip
        client.skip_next_reply = False
        spec = self._resolve(args)
        if type(spec) is bytes:
            client.transaction.flag_error()
            if not silent:
                batch.items.append(spec)
            return None
        assert isinstance(spec, CommandSpec)
        name = spec.name
        client.last_command = name
        transaction = client.transaction
        local = LOCAL_COMMANDS.get(name)
        allowed_when_subscribed = local is not None and local.allowed_when_subscribed
        if client.subscribed and not client.resp3 and not allowed_when_subscribed:
            transaction.flag_error()
            if not silent:
                batch.items.append(replies.error(context_error(name)))
            return None
        ctx = self.ctx
        if not resumed and ctx.pause.holds(spec, client):
            client.skip_next_reply = skip  # for the command once resumed
            return self._paused(spec, args)
        if ctx.monitor.active:
            self._monitor(spec, args, local, batch)
        if client.tracking is not None:
            ctx.tracking.remember(client, spec, args)
        if transaction.active and (local is None or not local.acts_in_multi):
            if spec.flags & Flag.NO_MULTI:  # processCommand refuses it, as a queuing error
                transaction.flag_error()
                if not silent:
                    batch.items.append(replies.error(errors.NOT_ALLOWED_IN_MULTI))
                return None
            if local is not None and not local.shard_runs_in_multi:
                reply = transaction.queue_local(args, spec)
            elif local is not None:
                reply = transaction.queue(args, spec, None)
            else:
                shard = self.ctx.planner.transaction_shard(spec, args)
                reply = transaction.queue(args, spec, shard)
            if not silent:
                batch.items.append(reply)
            return None
        if local is not None:
            return self._dispatch_local(local, args, batch, silent)
        plan = self.ctx.planner.plan(spec, args)
        if spec.is_blocking and type(plan) is Forward and may_block(spec, args):
            return self._barrier(lambda: self._blocking(plan), silent)
        batch.add_plan(plan, silent)
        return None

    def _paused(self, spec: CommandSpec, args: list[bytes]) -> Barrier:
        """A command CLIENT PAUSE holds: run once the pause ends, after which it goes as
        it would have gone (it is a barrier: what follows it waits too)."""

        async def run() -> bytes:
            await self.ctx.pause.wait(spec, self.client)
            batch = _Batch(self.client.resp3, self.client.readonly, time.monotonic())
            barrier = self._dispatch_any(args, batch, resumed=True)
            out = await self._execute(batch) if batch.commands or batch.items else b""
            if barrier is not None:
                out += await barrier()
            self._show(batch.shown)  # just before its reply goes out
            return out

        return run

    def _monitor(
        self, spec: CommandSpec, args: list[bytes], local: LocalCommand | None, batch: _Batch
    ) -> None:
        """To show to the monitors once it ran: a command queued by MULTI when EXEC runs
        it, as Redis does."""
        transaction = self.client.transaction
        shown = batch.shown
        if transaction.active:
            if local is None or not local.acts_in_multi:
                return
            if spec.name == "exec" and not transaction.dirty:
                shown.extend((queued.spec, queued.args) for queued in transaction.queued)
        shown.append((spec, args))

    def _show(self, commands: list[tuple[CommandSpec, list[bytes]]]) -> None:
        feed = self.ctx.monitor.feed
        for spec, args in commands:
            feed(self.client, spec, args)

    def _resolve(self, args: list[bytes]) -> CommandSpec | bytes:
        """The spec governing args, or the encoded error reply (unknown command or
        subcommand, wrong arity, then not authenticated), checked in Redis's order."""
        spec = resolve(args)
        if type(spec) is Unresolved:
            return replies.error(spec.text)
        if not self.client.authenticated and not spec.allowed_before_auth:  # type: ignore[union-attr]
            return replies.error(errors.NOAUTH)
        denied = acl_denial(self.ctx, self.client, spec, args)  # type: ignore[arg-type]
        if denied is not None:
            return replies.error(denied)
        return spec  # type: ignore[return-value]

    def _dispatch_local(
        self, command: LocalCommand, args: list[bytes], batch: _Batch, silent: bool
    ) -> Barrier | None:
        """A command the router answers itself, as its entry in LOCAL_COMMANDS says."""
        silent = silent and not command.replies_when_off
        if command.answer_later is not None:
            answer_later = command.answer_later
            return self._barrier(lambda: answer_later(self, args), silent)
        assert command.answer is not None
        reply = command.answer(self, args)
        if reply is not None and not silent:
            batch.items.append(reply)
        return None

    def _barrier(self, run: Callable[[], Awaitable[bytes]], silent: bool) -> Barrier:
        if not silent:
            return run

        async def quietly() -> bytes:
            await run()
            return b""

        return quietly

    # ------------------------------------------------------------------ execution

    async def _execute(self, batch: _Batch) -> bytes:
        commands = batch.commands
        results: dict[int, list[bytes]] = {}
        if len(commands) == 1:
            shard, queue = next(iter(commands.items()))
            results[shard] = await self._answers(shard, queue, self._call(shard, queue, batch))
        elif commands:
            # Every shard's request leaves before the first answer is awaited.
            calls = [
                (shard, queue, self._call(shard, queue, batch)) for shard, queue in commands.items()
            ]
            try:
                for shard, queue, call in calls:
                    results[shard] = await self._answers(shard, queue, call)
            finally:
                for _, _, call in calls:
                    if inspect.iscoroutine(call):
                        call.close()  # not awaited when this connection went away
        out: list[bytes] = []
        for item in batch.items:
            kind = type(item)
            if kind is bytes:
                out.append(item)  # type: ignore[arg-type]
            elif kind is tuple:
                shard, index = item  # type: ignore[misc]
                out.append(results[shard][index])
            else:
                out.append(item.resolve(results))  # type: ignore[union-attr]
        ctx = self.ctx
        elapsed = ctx.commands.record(batch.names, out, batch.started)
        if elapsed >= ctx.monitor_threshold:
            ctx.observe(batch.names, batch.args, elapsed, self.client)
        return b"".join(out)

    def _call(
        self, shard: int, commands: list[list[bytes]], batch: _Batch
    ) -> Awaitable[list[bytes]]:
        client = self.client
        ctx = self.ctx
        return ctx.backend.execute(
            shard,
            commands,
            batch.resp3,
            batch.readonly,
            client.write_marks,
            noloop_writer(client),
            script_caller(ctx, client, commands),
            client.db,
        )

    async def _answers(
        self, shard: int, commands: list[list[bytes]], call: Awaitable[list[bytes]]
    ) -> list[bytes]:
        """A backend call's replies; a shard failure becomes an error reply for each command."""
        try:
            answers = await call
        except BackendError as failure:
            return [replies.error(failure.reply)] * len(commands)
        except Exception as problem:
            log.exception("shard %d failed", shard)
            return [replies.error(INTERNAL % repr(problem).encode())] * len(commands)
        if len(answers) != len(commands):
            mismatch = b"shard %d sent %d replies for %d commands" % (
                shard,
                len(answers),
                len(commands),
            )
            return [replies.error(INTERNAL % mismatch)] * len(commands)
        return answers

    async def _blocking(self, plan: Forward) -> bytes:
        client = self.client
        client.blocked = True
        try:
            batch = _Batch(client.resp3, client.readonly)
            commands = [plan.args]
            (answer,) = await self._answers(
                plan.shard, commands, self._call(plan.shard, commands, batch)
            )
            return answer
        finally:
            client.blocked = False

    # ------------------------------------------------------------------ pub/sub

    async def confirmed(self, frames: list[Reply]) -> bytes:
        """`frames` (a subscription change's confirmations) once the nodes hold the change;
        the messages that come meanwhile are held and follow them."""
        self._held = []
        try:
            await self.ctx.backend.sync_subscriptions()
        finally:
            held, self._held = self._held, None
        return encode_many(frames, self.client.resp3) + b"".join(held)

"""The commands the router answers itself (Route.ROUTER), in one table: for each, its
handler and how the session runs it. Each command module registers its own:
router/connection_commands.py (PING, AUTH, HELLO, CLIENT, ...), server_commands.py
(CONFIG, INFO, TIME), command_docs.py (COMMAND), transaction_commands.py (MULTI, EXEC,
WATCH, ...), pubsub_commands.py (SUBSCRIBE, PUBLISH, PUBSUB), cluster_commands.py
(CLUSTER, ASKING), replication_commands.py (WAIT, WAITAOF, ROLE, SAVE, BGSAVE,
BGREWRITEAOF, LASTSAVE); the session imports them.

Most handlers take the shared context, the connection's state and the arguments (arity
already checked) and return a typed reply (proto.resp): `answers` registers those. Some
need the connection itself (to subscribe it, to run EXEC's queue): `answers_with`
registers those, given the connection, returning encoded bytes. A handler that `waits`
is a coroutine the session runs as a barrier, once the replies before it are out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, cast

from proto.resp import OK, Reply, Simple, encode
from router.connection import ClientState
from router.context import RouterContext
from router.pubsub import Frame

Handler = Callable[[RouterContext, ClientState, list[bytes]], Reply]
AsyncHandler = Callable[[RouterContext, ClientState, list[bytes]], Awaitable[Reply]]


class Connection(Protocol):
    """A client connection as a router command sees it (router.session.Session)."""

    @property
    def ctx(self) -> RouterContext: ...

    @property
    def client(self) -> ClientState: ...

    def deliver(self, frame: Frame) -> None:
        """A message for its subscriptions (it is a pub/sub Subscriber)."""

    async def confirmed(self, frames: list[Reply]) -> bytes:
        """`frames` encoded, once the nodes hold the subscription change just made, with
        the messages that came meanwhile after them."""
        ...


Answer = Callable[[Connection, list[bytes]], "bytes | None"]
LaterAnswer = Callable[[Connection, list[bytes]], Awaitable[bytes]]


class _NoReply:
    """What a handler returns when nothing must be sent (CLIENT REPLY OFF and SKIP)."""

    __slots__ = ()


NO_REPLY = _NoReply()


@dataclass(frozen=True, slots=True)
class LocalCommand:
    """How the session runs one router command. `answer` gives the encoded reply at once
    (None: none to send), or `answer_later` after the replies before it (a barrier)."""

    answer: Answer | None = None
    answer_later: LaterAnswer | None = None
    replies_when_off: bool = False  # sent even under CLIENT REPLY OFF/SKIP
    acts_in_multi: bool = False  # acts at once inside MULTI instead of being queued
    allowed_when_subscribed: bool = False  # in RESP2 pub/sub mode (processCommand)
    # Queued inside MULTI as a command the shard runs in the transaction's entry (SELECT:
    # the commands after it act on its database).
    shard_runs_in_multi: bool = False

    async def run_in_exec(self, connection: Connection, args: list[bytes]) -> bytes:
        """Its reply as an element of EXEC's: an answer there is always sent (+OK for a
        CLIENT REPLY that says not to). Nothing blocks inside EXEC (Redis's
        CLIENT_DENY_BLOCKING): WAIT answers at once."""
        client = connection.client
        client.in_exec = True
        try:
            if self.answer_later is not None:
                return await self.answer_later(connection, args)
            assert self.answer is not None
            reply = self.answer(connection, args)
            return reply if reply is not None else encode(OK)
        finally:
            client.in_exec = False


LOCAL_COMMANDS: dict[str, LocalCommand] = {}


def _register(names: tuple[str, ...], command: LocalCommand) -> None:
    for name in names:
        if name in LOCAL_COMMANDS:
            raise RuntimeError(f"router command {name!r} registered twice")
        LOCAL_COMMANDS[name] = command


def answers(
    *names: str,
    waits: bool = False,
    replies_when_off: bool = False,
    acts_in_multi: bool = False,
    allowed_when_subscribed: bool = False,
    shard_runs_in_multi: bool = False,
) -> Callable[[Handler], Handler]:
    """Register a handler of (context, connection state, args) -> reply for the named
    commands ('client|setname' for a subcommand); a coroutine if it `waits`. It may
    return NO_REPLY."""

    def register(handler: Handler) -> Handler:
        if waits:
            later = cast(AsyncHandler, handler)

            async def answer_later(connection: Connection, args: list[bytes]) -> bytes:
                reply = await later(connection.ctx, connection.client, args)
                return encode(reply, connection.client.resp3)

            command = LocalCommand(
                answer_later=answer_later,
                replies_when_off=replies_when_off,
                acts_in_multi=acts_in_multi,
                allowed_when_subscribed=allowed_when_subscribed,
                shard_runs_in_multi=shard_runs_in_multi,
            )
        else:

            def answer(connection: Connection, args: list[bytes]) -> bytes | None:
                reply = handler(connection.ctx, connection.client, args)
                if reply is NO_REPLY:
                    return None
                return encode(reply, connection.client.resp3)

            command = LocalCommand(
                answer=answer,
                replies_when_off=replies_when_off,
                acts_in_multi=acts_in_multi,
                allowed_when_subscribed=allowed_when_subscribed,
            )
        _register(names, command)
        return handler

    return register


def answers_with(
    *names: str,
    replies_when_off: bool = False,
    acts_in_multi: bool = False,
    allowed_when_subscribed: bool = False,
) -> Callable[[LaterAnswer], LaterAnswer]:
    """Register a coroutine of (connection, args) -> encoded reply, run as a barrier, for
    the named commands."""

    def register(handler: LaterAnswer) -> LaterAnswer:
        command = LocalCommand(
            answer_later=handler,
            replies_when_off=replies_when_off,
            acts_in_multi=acts_in_multi,
            allowed_when_subscribed=allowed_when_subscribed,
        )
        _register(names, command)
        return handler

    return register


def help_lines(lines: list[str]) -> Reply:
    """A HELP subcommand's reply: one simple string per line."""
    return [Simple(line.encode()) for line in lines]

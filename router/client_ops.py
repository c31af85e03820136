"""CLIENT LIST / KILL / PAUSE / UNPAUSE over one router's clients, as the router that got
the command runs them for its own part and the other routers for theirs when it asks
them (router/router_bus.py). The arguments are checked by the router that got the
command (router/connection_commands.py); the others parse them again, already valid.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from proto import errors
from router.config import Limits
from router.connection import ClientState
from router.pause import PauseState
from router.pubsub import Frame
from router.router_bus import RouterBus
from router.tracking import TrackingTable, deliver_invalidation


class ClientHandle(Protocol):
    """A connected client as other connections see it."""

    client: ClientState

    @property
    def buffered(self) -> int: ...

    @property
    def output_buffered(self) -> int: ...

    def kill(self) -> None: ...

    def deliver(self, frame: Frame) -> None:
        """A pushed message (pub/sub, MONITOR line, tracking invalidation)."""

    async def unblock(self, error: bool) -> bool:
        """CLIENT UNBLOCK of this client; whether it was blocked."""
        ...

    def use_limits(self, limits: Limits) -> None:
        """Read the connection's next requests under these limits (CONFIG SET)."""


class RouterContext(Protocol):
    """What these operations need of the router's shared context (router.context)."""

    clients: dict[int, ClientHandle]
    bus: RouterBus
    pause: PauseState
    tracking: TrackingTable


DEFAULT_USER = b"default"
CLIENT_TYPES = (b"normal", b"master", b"replica", b"slave", b"pubsub")
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


def integer(arg: bytes) -> int | None:
    """string2ll's acceptance: an optional '-' and digits without a leading zero."""
    if len(arg) > 20:
        return None
    text = arg[1:] if arg[:1] == b"-" else arg
    if not text.isdigit() or (text[0] == 48 and (len(text) > 1 or arg[:1] == b"-")):
        return None
    value = int(arg)
    return value if _LONG_MIN <= value <= _LONG_MAX else None


def of_type(client: ClientState, kind: bytes) -> bool:
    """getClientType: subscribers are 'pubsub', the others 'normal'; no replicas here."""
    if kind == b"pubsub":
        return client.subscribed
    return kind == b"normal" and not client.subscribed


# ---------------------------------------------------------------------- CLIENT LIST


@dataclass(frozen=True, slots=True)
class ListFilter:
    kind: bytes | None = None
    ids: frozenset[int] | None = None


def parse_list(args: list[bytes]) -> ListFilter | bytes:
    """CLIENT LIST's options (args after LIST), or the error text."""
    ids: set[int] | None = None
    kind: bytes | None = None
    index = 0
    while index < len(args):
        option = args[index].lower()
        if option == b"type" and index + 1 < len(args):
            kind = args[index + 1].lower()
            if kind not in CLIENT_TYPES:
                return b"ERR Unknown client type '%s'" % args[index + 1]
            index += 2
        elif option == b"id" and index + 1 < len(args):
            ids = set()
            index += 1
            while index < len(args):
                value = integer(args[index])
                if value is None or value <= 0:
                    return b"ERR Invalid client ID"
                ids.add(value)
                index += 1
        else:
            return errors.SYNTAX
    return ListFilter(kind, None if ids is None else frozenset(ids))


def list_lines(ctx: RouterContext, wanted: ListFilter) -> list[bytes]:
    now = time.monotonic()
    return [
        handle.client.info_line(now, handle.buffered)
        for handle in ctx.clients.values()
        if (wanted.kind is None or of_type(handle.client, wanted.kind))
        and (wanted.ids is None or handle.client.id in wanted.ids)
    ]


def line_id(line: bytes) -> int:
    """The id a CLIENT LIST line starts with ('id=N ...')."""
    field = line.split(b" ", 1)[0]
    return int(field[3:]) if field[3:].isdigit() else 0


# ---------------------------------------------------------------------- CLIENT KILL

Check = Callable[[ClientState], bool]


@dataclass(frozen=True, slots=True)
class KillFilter:
    checks: tuple[Check, ...]
    skip_me: bool
    old_form: bool  # CLIENT KILL addr: may kill the caller, an error if none


def parse_kill(args: list[bytes]) -> KillFilter | bytes:
    """CLIENT KILL's arguments (after KILL), or the error text."""
    if len(args) == 1:
        return KillFilter((partial(_has_addr, args[0]),), False, True)
    if len(args) % 2:
        return errors.SYNTAX
    checks: list[Check] = []
    skip_me = True
    for index in range(0, len(args), 2):
        option, value = args[index].lower(), args[index + 1]
        if option == b"id":
            wanted = integer(value)
            if wanted is None or wanted <= 0:
                return b"ERR client-id should be greater than 0"
            checks.append(partial(_has_id, wanted))
        elif option == b"addr":
            checks.append(partial(_has_addr, value))
        elif option == b"laddr":
            checks.append(partial(_has_laddr, value))
        elif option == b"type":
            kind = value.lower()
            if kind not in CLIENT_TYPES:
                return b"ERR Unknown client type '%s'" % value
            checks.append(partial(_is_of_type, kind))
        elif option == b"user":
            checks.append(partial(_has_user, value))
        elif option == b"skipme":
            if value.lower() not in (b"yes", b"no"):
                return errors.SYNTAX
            skip_me = value.lower() == b"yes"
        else:
            return errors.SYNTAX
    return KillFilter(tuple(checks), skip_me, False)


def kill(ctx: RouterContext, wanted: KillFilter, caller_id: int) -> int:
    """Close this router's clients that match; how many. The caller itself (when it
    matches and SKIPME NO or the old form) is closed after its reply, as Redis does."""
    targets: list[ClientHandle] = [
        handle
        for handle in ctx.clients.values()
        if all(check(handle.client) for check in wanted.checks)
        and not (wanted.skip_me and handle.client.id == caller_id)
    ]
    for handle in targets:
        if handle.client.id == caller_id:
            handle.client.closing = True
        else:
            handle.kill()
    return len(targets)


def _has_id(wanted: int, state: ClientState) -> bool:
    return state.id == wanted


def _has_addr(addr: bytes, state: ClientState) -> bool:
    return state.addr.encode() == addr


def _has_laddr(laddr: bytes, state: ClientState) -> bool:
    return state.laddr.encode() == laddr


def _is_of_type(kind: bytes, state: ClientState) -> bool:
    return of_type(state, kind)


def _has_user(user: bytes, state: ClientState) -> bool:
    return state.user == user


# ---------------------------------------------------------------------- other routers


def install(ctx: RouterContext) -> None:
    """Answer the other routers' CLIENT requests for this router's clients."""
    bus = ctx.bus

    def on_list(args: list[bytes]) -> list[bytes]:
        wanted = parse_list(args)
        return [] if isinstance(wanted, bytes) else list_lines(ctx, wanted)

    def on_kill(args: list[bytes]) -> list[bytes]:
        caller = integer(args[0]) if args else None
        wanted = parse_kill(args[1:])
        if caller is None or isinstance(wanted, bytes):
            return [b"0"]
        return [b"%d" % kill(ctx, wanted, caller)]

    def on_pause(args: list[bytes]) -> list[bytes]:
        timeout, mode = (integer(arg) for arg in args[:2])
        if timeout is not None and mode is not None:
            ctx.pause.pause(timeout, mode)
        return []

    def on_unpause(args: list[bytes]) -> list[bytes]:
        ctx.pause.unpause()
        return []

    async def on_unblock(args: list[bytes]) -> list[bytes]:
        client_id = integer(args[0]) if len(args) == 2 else None
        handle = ctx.clients.get(client_id) if client_id is not None else None
        if handle is None:
            return [b"0"]
        return [b"1" if await handle.unblock(args[1] == b"error") else b"0"]

    def on_exists(args: list[bytes]) -> list[bytes]:
        client_id = integer(args[0]) if args else None
        return [b"1" if client_id in ctx.clients else b"0"]

    def on_invalidation(args: list[bytes]) -> list[bytes]:
        """An invalidation for a client of this router that another router's tracking
        client redirects to."""
        client_id = integer(args[0]) if args else None
        handle = ctx.clients.get(client_id) if client_id is not None else None
        if handle is not None:
            deliver_invalidation(handle, args[1:], redirected=True)
        return []

    def forward(target: int, keys: list[bytes]) -> None:
        bus.spawn(bus.tell(b"invalidation", [b"%d" % target, *keys]))

    ctx.tracking.forward = forward

    def on_pause_state(args: list[bytes]) -> list[bytes]:
        remaining = ctx.pause.remaining_ms()
        return [b"%d" % remaining, b"%d" % ctx.pause.mode] if remaining else []

    bus.on(b"pause-state", on_pause_state)
    bus.on(b"client-exists", on_exists)
    bus.on(b"invalidation", on_invalidation)
    bus.on(b"client-list", on_list)
    bus.on(b"unblock", on_unblock)
    bus.on(b"client-kill", on_kill)
    bus.on(b"pause", on_pause)
    bus.on(b"unpause", on_unpause)


async def join_pause(ctx: RouterContext) -> None:
    """A router that starts during a CLIENT PAUSE takes up what is left of it."""
    for answer in await ctx.bus.ask(b"pause-state", []):
        if len(answer) == 2:
            remaining, mode = integer(answer[0]), integer(answer[1])
            if remaining and mode:
                ctx.pause.pause(remaining, mode)

"""A router's side of the ACL users: the replicated table as the backend shows it, the
users looked up from it (`default` from this router's requirepass while no ACL change
named it), ACL LOG (this router's denials and failed AUTHs, grouped as Redis groups them),
INFO's counters, and the disconnection of clients whose user was deleted or reloaded."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from proto.acl import DEFAULT_USER, User, password_hash
from proto.acl_table import AclTable, change
from router.backend import Backend
from router.client_ops import ClientHandle
from router.config import RouterConfig
from router.connection import ClientState
from router.router_bus import ASK_TIMEOUT_S, RouterBus

log = logging.getLogger("slotraft.router.acl")

_NO_DIGEST = b"0" * 64

# ACL_LOG_GROUPING_MAX_TIME_DELTA: a denial like an entry at most this old joins it.
GROUPING_S = 60.0


class RouterContext(Protocol):
    """What this needs of the router's shared context (router.context)."""

    backend: Backend
    config: RouterConfig
    clients: dict[int, ClientHandle]
    bus: RouterBus


@dataclass(slots=True)
class LogEntry:
    reason: bytes  # command, key, channel or auth
    context: bytes  # toplevel, multi or lua
    object: bytes
    username: bytes
    client_info: bytes
    created: float  # monotonic seconds of the latest occurrence
    count: int = 1


@dataclass(slots=True)
class DeniedCounters:
    """INFO stats' acl_access_denied_* (Redis 7.2's fields: 7.0 counts nothing)."""

    auth: int = 0
    cmd: int = 0
    key: int = 0
    channel: int = 0


def acl_denied_lines(denied: DeniedCounters) -> list[str]:
    return [
        f"acl_access_denied_auth:{denied.auth}",
        f"acl_access_denied_cmd:{denied.cmd}",
        f"acl_access_denied_key:{denied.key}",
        f"acl_access_denied_channel:{denied.channel}",
    ]


@dataclass(slots=True)
class AclState:
    ctx: RouterContext
    entries: deque[LogEntry] = field(default_factory=deque)
    max_len: int = 128  # acllog-max-len
    denied: DeniedCounters = field(default_factory=DeniedCounters)
    _users: dict[bytes, User | None] = field(default_factory=dict)
    # The table and requirepass the cached users come from (the table itself, not its id:
    # a later table may reuse a freed one's id).
    _source: tuple[AclTable, bytes | None] | None = None
    _new_table: asyncio.Event | None = None  # set by each new table (waiters of `_caught_up`)

    def install(self) -> None:
        self.ctx.backend.on_acl_change(self.changed)
        self.ctx.bus.on(b"acl-version", self._caught_up)

    async def propagated(self) -> None:
        """After a change this router made: returns once every other router that answers
        holds the new table, so that the change holds everywhere when its command answers
        (a router that cannot be reached takes it up when the nodes tell it)."""
        await self.ctx.bus.ask(b"acl-version", [b"%d" % self.table.version])

    async def _caught_up(self, args: list[bytes]) -> list[bytes]:
        wanted = int(args[0]) if args and args[0].isdigit() else 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ASK_TIMEOUT_S * 0.75
        while self.table.version < wanted and loop.time() < deadline:
            if self._new_table is None:
                self._new_table = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_table.wait(), deadline - loop.time())
        return [b"%d" % self.table.version]

    @property
    def table(self) -> AclTable:
        return self.ctx.backend.acl()

    def user(self, name: bytes) -> User | None:
        """The user of that name now (None: no such user)."""
        table = self.table
        password = self.ctx.config.requirepass
        cached = self._source
        if cached is None or cached[0] is not table or cached[1] != password:
            self._users.clear()
            self._source = (table, password)
        try:
            return self._users[name]
        except KeyError:
            found = table.user(name, self.ctx.config.requirepass)
            if len(self._users) < 4096:
                self._users[name] = found
            return found

    def unrestricted(self, client: ClientState) -> bool:
        """Nothing to check for this client's commands (the inline fast path)."""
        user = self.user(client.user)
        return user is not None and user.is_unrestricted()

    def authenticate(
        self, client: ClientState, name: bytes, password: bytes, command: bytes
    ) -> bool:
        """AUTH / HELLO AUTH: the client runs as `name` if the password opens it; a failure
        is counted and logged (under the command's name as the client wrote it)."""
        user = self.user(name)
        if user is None:
            # The same work as a check, so that the time does not tell which names exist.
            hmac.compare_digest(password_hash(password).encode(), _NO_DIGEST)
        elif user.check_password(password):
            client.authenticated = True
            client.user = name
            client.user_generation = self.table.generation(name)
            return True
        self.denied.auth += 1
        self.record(client, b"auth", command, name)
        return False

    async def set_default_password(self, password: bytes) -> None:
        """CONFIG SET requirepass: `default` keeps only this password (empty: nopass)."""
        rule = b"#" + password_hash(password).encode() if password else b"nopass"
        await self.ctx.backend.change_acl(
            change("setuser", name=DEFAULT_USER, rules=[b"resetpass", rule])
        )
        await self.propagated()

    def requires_auth(self) -> bool:
        """New connections start unauthenticated unless `default` is on and nopass."""
        user = self.user(DEFAULT_USER)
        return user is None or not (user.enabled and user.nopass)

    def changed(self) -> None:
        """A new table: clients of users deleted (or replaced by ACL LOAD) are closed, as
        Redis frees them."""
        if self._new_table is not None:
            self._new_table.set()
            self._new_table = None
        table = self.table
        for handle in list(self.ctx.clients.values()):
            client = handle.client
            if client.user == DEFAULT_USER or not client.authenticated:
                continue
            if client.user not in table.users or table.generation(client.user) != (
                client.user_generation
            ):
                log.info("client %d closed: its user %r is gone", client.id, client.user)
                handle.kill()

    # ------------------------------------------------------------------ ACL LOG

    def record(
        self,
        client: ClientState,
        reason: bytes,
        object_: bytes,
        username: bytes | None = None,
        context: bytes | None = None,
    ) -> None:
        if context is None:
            context = b"multi" if client.transaction.active else b"toplevel"
        username = client.user if username is None else username
        now = time.monotonic()
        handle = self.ctx.clients.get(client.id)
        info = client.info_line(now, handle.buffered if handle else 0).rstrip(b"\n")
        for entry in self.entries:
            if (
                entry.reason == reason
                and entry.context == context
                and entry.object == object_
                and entry.username == username
                and now - entry.created < GROUPING_S
            ):
                entry.count += 1
                entry.created = now
                entry.client_info = info
                self.entries.remove(entry)
                self.entries.appendleft(entry)
                return
        self.entries.appendleft(LogEntry(reason, context, object_, username, info, now))
        while len(self.entries) > self.max_len:
            self.entries.pop()

    def count_denial(self, reason: bytes) -> None:
        if reason == b"command":
            self.denied.cmd += 1
        elif reason == b"key":
            self.denied.key += 1
        else:
            self.denied.channel += 1

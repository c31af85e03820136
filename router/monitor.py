"""MONITOR over every router: each command a client of any router runs, as a line in
Redis's format (`+1700000000.123456 [0 127.0.0.1:53012] "SET" "k" "v"`), with Redis's
redactions (AUTH's arguments, HELLO's and MIGRATE's passwords) and without the commands
Redis does not show (administrative ones: CONFIG, CLIENT LIST, MONITOR, ...).

Inside a router a line reaches its monitors at once. Across routers the lines travel on
the internal MONITOR channel (proto/internal_channels.py), and only while some router has
a monitor: such a router listens on the channel and tells the others so every
NOTICE_INTERVAL_S (router/router_bus.py); a router publishes its lines while it heard
such a notice within REMOTE_TTL_S, and stops as soon as a publication reaches no router.
Nothing is published, and the session's fast path is kept, while no monitor exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

from proto.commands import CommandSpec, Flag
from proto.internal_channels import MONITOR, pack, unpack
from proto.resp import Push
from router.backend import Backend
from router.connection import ClientState
from router.pubsub import Frame
from router.redaction import redacted_positions
from router.router_bus import RouterBus

log = logging.getLogger("slotraft.router.monitor")

NOTICE_INTERVAL_S = 1.0
REMOTE_TTL_S = 3.0
_REDACTED = b'"(redacted)"'


class Monitor(Protocol):
    """A MONITOR connection (router.session.Session)."""

    @property
    def client(self) -> ClientState: ...

    def deliver(self, frame: Frame) -> None: ...


class RawFrame(Frame):
    """Bytes already encoded, the same in RESP2 and RESP3 (a status line)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        super().__init__(Push([]))
        self.data = data

    def encoded(self, resp3: bool) -> bytes:
        return self.data


def _repr(arg: bytes) -> bytes:
    """sdscatrepr: quoted, with C escapes and \\xHH for the unprintable bytes."""
    out = bytearray(b'"')
    for byte in arg:
        if byte in (0x5C, 0x22):  # backslash, quote
            out += b"\\%c" % byte
        elif byte == 0x0A:
            out += b"\\n"
        elif byte == 0x0D:
            out += b"\\r"
        elif byte == 0x09:
            out += b"\\t"
        elif byte == 0x07:
            out += b"\\a"
        elif byte == 0x08:
            out += b"\\b"
        elif 0x20 <= byte <= 0x7E:
            out.append(byte)
        else:
            out += b"\\x%02x" % byte
    out += b'"'
    return bytes(out)


def shown(spec: CommandSpec) -> bool:
    """Redis does not show the administrative commands (nor those flagged skip_monitor)."""
    return not spec.flags & Flag.ADMIN


def monitor_line(now: float, addr: str, spec: CommandSpec, args: list[bytes]) -> bytes:
    """replicationFeedMonitors's line for one command (a RESP status line)."""
    seconds = int(now)
    micros = int((now - seconds) * 1_000_000)
    parts = [_repr(arg) for arg in args]
    for index in redacted_positions(args):
        parts[index] = _REDACTED
    return b"+%d.%06d [0 %s] %s\r\n" % (seconds, micros, addr.encode(), b" ".join(parts))


class MonitorFeed:
    def __init__(self, backend: Backend, bus: RouterBus) -> None:
        self.backend = backend
        self.bus = bus
        self.local: dict[int, Monitor] = {}
        self.remote_until = 0.0  # monotonic: some other router has a monitor until then
        self._notices = 0  # bumped at each notice: a publication older than it proves nothing
        self._outbox: list[bytes] = []
        self._flushing = False
        self._notice_task: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        bus.on(b"monitoring", self._remote_monitor)

    @property
    def active(self) -> bool:
        return bool(self.local) or (self.remote_until > 0 and self._remote_active())

    def _remote_active(self) -> bool:
        if time.monotonic() < self.remote_until:
            return True
        self.remote_until = 0.0
        return False

    # ------------------------------------------------------------------ monitors

    async def add(self, monitor: Monitor) -> None:
        """Make `monitor` a monitor; returns once the other routers were told (or could
        not be reached), so that what they run next is shown."""
        client = monitor.client
        client.monitor = True
        first = not self.local
        self.local[client.id] = monitor
        if first:
            self.backend.pubsub.listen(MONITOR, self._on_lines)
            await self.backend.sync_subscriptions()
            await self.bus.tell(b"monitoring", [])
            if self._notice_task is None:
                self._notice_task = asyncio.get_running_loop().create_task(self._keep_telling())

    def remove(self, client: ClientState) -> None:
        if not client.monitor:
            return
        client.monitor = False
        self.local.pop(client.id, None)
        if not self.local:
            self.backend.pubsub.unlisten(MONITOR)
            if self._notice_task is not None:
                self._notice_task.cancel()
                self._notice_task = None

    async def _keep_telling(self) -> None:
        while True:
            await asyncio.sleep(NOTICE_INTERVAL_S)
            with contextlib.suppress(Exception):
                await self.bus.tell(b"monitoring", [])

    def _remote_monitor(self, args: list[bytes]) -> list[bytes]:
        self.remote_until = time.monotonic() + REMOTE_TTL_S
        self._notices += 1
        return []

    # ------------------------------------------------------------------ the feed

    def feed(self, client: ClientState, spec: CommandSpec, args: list[bytes]) -> None:
        """A command a client of this router runs."""
        if not shown(spec):
            return
        line = monitor_line(time.time(), client.addr, spec, args)
        if self.local:
            self._deliver(line)
        if self.remote_until > 0 and self._remote_active():
            self._outbox.append(line)
            if not self._flushing:
                self._flushing = True
                task = asyncio.get_running_loop().create_task(self._flush())
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def _deliver(self, data: bytes) -> None:
        frame = RawFrame(data)
        for monitor in list(self.local.values()):
            monitor.deliver(frame)

    async def _flush(self) -> None:
        """Publish the lines gathered since the last publication, in one message."""
        try:
            while self._outbox:
                await asyncio.sleep(0)  # gather what this loop turn adds
                lines, self._outbox = self._outbox, []
                notices = self._notices
                try:
                    receivers = await self.backend.publish(
                        MONITOR, pack([b"%d" % self.bus.tag, *lines]), self.bus.tag
                    )
                except Exception as problem:
                    log.debug("MONITOR lines not published: %r", problem)
                    continue
                if MONITOR in self.backend.pubsub.internal:
                    receivers -= 1  # this router's own listener
                if receivers <= 0 and notices == self._notices:
                    self.remote_until = 0.0  # nobody listens any more
                    self._outbox.clear()
        finally:
            self._flushing = False

    def _on_lines(self, message: bytes) -> None:
        items = unpack(message)
        if not items or items[0] == b"%d" % self.bus.tag:
            return  # its own lines: shown when run
        self._deliver(b"".join(items[1:]))

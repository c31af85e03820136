"""CLIENT PAUSE on one router: until when, and which commands wait (Redis 7.0's
pauseClients / processCommand). The command propagates it to every router
(router/client_admin.py); each keeps its own deadline from the timeout it was given.

ALL holds every command of every client (CLIENT UNPAUSE included, as in Redis, where a
paused client's commands wait whatever they are); WRITE holds the commands that may
write or replicate: the WRITE ones, EVAL/FCALL and friends, PUBLISH, PFCOUNT, and EXEC
of a transaction that queued one of those. A later pause keeps the longer deadline and
the stricter mode. A router that starts during a pause asks the others what is left of
it (router/client_ops.py: join_pause).
"""

from __future__ import annotations

import asyncio
import time

from proto.commands import CommandSpec, Flag
from router.connection import ClientState

WRITE, ALL = 1, 2

# Redis 7.0's may_replicate commands (not WRITE, yet paused by CLIENT PAUSE WRITE).
_MAY_REPLICATE = frozenset(
    {
        "eval",
        "evalsha",
        "fcall",
        "publish",
        "spublish",
        "pfcount",
        "script|flush",
        "script|load",
        "function|delete",
        "function|flush",
        "function|load",
        "function|restore",
    }
)


def may_replicate(spec: CommandSpec) -> bool:
    return bool(spec.flags & Flag.WRITE) or spec.name in _MAY_REPLICATE


class PauseState:
    def __init__(self) -> None:
        self.until = 0.0  # monotonic; 0: not paused
        self.mode = 0
        self._changed = asyncio.Event()

    @property
    def active(self) -> bool:
        if not self.until:
            return False
        if time.monotonic() < self.until:
            return True
        self._end()
        return False

    def pause(self, timeout_ms: int, mode: int) -> None:
        until = time.monotonic() + timeout_ms / 1000
        if self.active:
            self.until = max(self.until, until)
            self.mode = max(self.mode, mode)
        else:
            self.until, self.mode = until, mode
        self._wake()

    def unpause(self) -> None:
        self._end()

    def remaining_ms(self) -> int:
        """What is left of the pause (0: none), for a router that starts meanwhile."""
        return max(int((self.until - time.monotonic()) * 1000), 0) if self.active else 0

    def holds(self, spec: CommandSpec, client: ClientState) -> bool:
        """Whether the command must wait for the pause to end."""
        if not self.active:
            return False
        if self.mode == ALL:
            return True
        if may_replicate(spec):
            return True
        transaction = client.transaction
        return spec.name == "exec" and any(may_replicate(q.spec) for q in transaction.queued)

    async def wait(self, spec: CommandSpec, client: ClientState) -> None:
        """Return once the command no longer has to wait."""
        while self.holds(spec, client):
            changed = self._changed
            remaining = self.until - time.monotonic()
            try:
                async with asyncio.timeout(max(remaining, 0.0)):
                    await changed.wait()
            except TimeoutError:
                pass

    def _end(self) -> None:
        self.until = 0.0
        self.mode = 0
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

"""Requests from one router to every other, over the nodes' pub/sub (internal channels,
proto/internal_channels.py): CLIENT LIST, KILL, PAUSE, UNPAUSE, UNBLOCK, and the notices
that keep the MONITOR feed flowing (router/monitor.py).

Every router listens on CONTROL and on its own reply channel. A request is published on
CONTROL as [b"ask", kind, sender tag, request id, *args]; each other router runs its
handler for `kind` and publishes [request id, *answer] on the sender's reply channel.
PUBLISH's answer says how many routers received the request (each router counts once on
an internal channel, and no client pattern matches one), so the sender knows how many
answers to wait for; it waits ASK_TIMEOUT_S at most (a router that dies meanwhile is not
waited for longer). The sender answers its own part itself, without the round trip.

A notice ([b"tell", kind, sender tag, *args]) is the same without answers.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from proto.internal_channels import CONTROL, pack, reply_channel, unpack
from router.backend import Backend, BackendError

log = logging.getLogger("slotraft.router.bus")

ASK_TIMEOUT_S = 2.0

# A handler answers at once, or with a coroutine whose result is the answer.
Handler = Callable[[list[bytes]], "list[bytes] | Coroutine[Any, Any, list[bytes]]"]


class _Pending:
    __slots__ = ("answers", "done", "expected")

    def __init__(self) -> None:
        self.answers: list[list[bytes]] = []
        self.expected: int | None = None  # known once PUBLISH answered
        self.done = asyncio.Event()

    def check(self) -> None:
        if self.expected is not None and len(self.answers) >= self.expected:
            self.done.set()


class RouterBus:
    def __init__(self, backend: Backend, tag: int) -> None:
        self.backend = backend
        self.tag = tag
        self.handlers: dict[bytes, Handler] = {}
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._tasks: set[asyncio.Task] = set()
        self.started = False
        self._synced = False  # the nodes know its channels (else answers could be lost)

    def on(self, kind: bytes, handler: Handler) -> None:
        """Run `handler` with the request's arguments when another router asks `kind`; its
        result is the answer (ignored for a notice)."""
        self.handlers[kind] = handler

    def start(self) -> None:
        """Listen for requests and answers (once an event loop runs)."""
        if self.started:
            return
        self.started = True
        self.backend.pubsub.listen(CONTROL, self._on_control)
        self.backend.pubsub.listen(reply_channel(self.tag), self._on_reply)

    async def ask(self, kind: bytes, args: list[bytes]) -> list[list[bytes]]:
        """The answers of the other routers that answer in time (none when the nodes
        cannot be reached: the caller still has its own part)."""
        self.start()
        if not self._synced:
            await self.backend.sync_subscriptions()
            self._synced = True
        request_id = next(self._ids)
        pending = self._pending[request_id] = _Pending()
        message = pack([b"ask", kind, b"%d" % self.tag, b"%d" % request_id, *args])
        try:
            receivers = await self.backend.publish(CONTROL, message, self.tag)
            pending.expected = max(receivers - 1, 0)  # not this router's own
            pending.check()
            async with asyncio.timeout(ASK_TIMEOUT_S):
                await pending.done.wait()
        except BackendError as failure:
            log.info("cannot reach the other routers: %s", failure)
        except TimeoutError:
            log.info("%d of %s routers answered %r", len(pending.answers), pending.expected, kind)
        finally:
            del self._pending[request_id]
        return pending.answers

    async def tell(self, kind: bytes, args: list[bytes]) -> int:
        """A notice to the other routers; how many received it (-1: none reachable)."""
        self.start()
        try:
            receivers = await self.backend.publish(
                CONTROL, pack([b"tell", kind, b"%d" % self.tag, *args]), self.tag
            )
        except BackendError:
            return -1
        return max(receivers - 1, 0)

    def spawn(self, work: Coroutine[Any, Any, object]) -> None:
        """Run `work` in the background, kept referenced until it ends."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ incoming

    def _on_control(self, message: bytes) -> None:
        items = unpack(message)
        if items is None or len(items) < 3 or not items[2].isdigit():
            log.warning("malformed router request: %r", message[:100])
            return
        what, kind, sender = items[0], items[1], int(items[2])
        if sender == self.tag:
            return  # its own request: answered by itself
        handler = self.handlers.get(kind)
        if what == b"tell":
            if handler is not None:
                result = handler(items[3:])
                if not isinstance(result, list):
                    self.spawn(result)
            return
        if what != b"ask" or len(items) < 4:
            return
        self.spawn(self._answer(sender, items[3], kind, handler, items[4:]))

    async def _answer(
        self,
        sender: int,
        request_id: bytes,
        kind: bytes,
        handler: Handler | None,
        args: list[bytes],
    ) -> None:
        try:
            result = handler(args) if handler is not None else []
            answer = result if isinstance(result, list) else await result
        except Exception:  # a router bug: the asker counts a missing answer
            log.exception("router request %r failed", kind)
            return
        try:
            message = pack([request_id, *answer])
            await self.backend.publish(reply_channel(sender), message, self.tag)
        except BackendError as failure:
            log.info("cannot answer router %x: %s", sender, failure)

    def _on_reply(self, message: bytes) -> None:
        items = unpack(message)
        if not items or not items[0].isdigit():
            return
        pending = self._pending.get(int(items[0]))
        if pending is not None:
            pending.answers.append(items[1:])
            pending.check()

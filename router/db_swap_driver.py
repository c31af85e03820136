"""A router's part in a cluster SWAPDB (node/db_swaps.py): begin the swap at the metadata
leader, then tell the metadata group each shard whose fence has committed, until the
swap commits.

The swap's state is the metadata group's; this driver holds none that matters. Every
router drives any swap it sees pending for longer than ORPHAN_AFTER_S, so a swap whose
router died is completed by another one (acknowledgements are idempotent). A shard's
fence counts as committed when one of its replicas has applied it (a replica applies only
committed entries): the router reads that in the shard's stats (`db_fence_epoch`, or a
`db_map_epoch` already past the swap).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from proto import slotraft_pb2 as pb
from router.backend import BackendError

log = logging.getLogger("slotraft.router.swapdb")

SWAP_BUDGET_S = 30.0  # a shard without a leader for this long fails the SWAPDB
ORPHAN_AFTER_S = 2.0  # a swap pending this long is driven by every router
FIRST_PAUSE_S = 0.005
LONGEST_PAUSE_S = 0.2

Propose = Callable[[pb.ConfigSetRequest, bytes], Awaitable[pb.ConfigSetReply]]
ShardStats = Callable[[int], Awaitable[dict[str, Any]]]


class DbSwapDriver:
    def __init__(self, propose: Propose, shard_stats: ShardStats) -> None:
        self.propose = propose
        self.shard_stats = shard_stats
        self.state: dict[str, Any] = {"epoch": 0, "pending": None}  # DbSwaps.to_json
        self.changed = asyncio.Event()
        self.pending_since = 0.0
        self.task: asyncio.Task | None = None

    def install(self, text: str) -> None:
        """The metadata group's database map and pending swap (ConfigValues.databases)."""
        if not text:
            return
        try:
            state = json.loads(text)
            if int(state.get("epoch", 0)) < int(self.state.get("epoch", 0)):
                return
        except (ValueError, TypeError, AttributeError):
            log.warning("a node sent a malformed database map: %.200s", text)
            return
        was_pending = self.state.get("pending")
        self.state = state
        if state.get("pending") is not None and was_pending is None:
            self.pending_since = time.monotonic()
        self.changed.set()

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._orphans())

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def swap(self, first: int, second: int) -> None:
        """SWAPDB first second: returns once the swap committed; BackendError if it could
        not be begun or finished within SWAP_BUDGET_S."""
        deadline = time.monotonic() + SWAP_BUDGET_S
        pause = FIRST_PAUSE_S
        while True:
            request = pb.ConfigSetRequest(swap=pb.DbSwapStep(first=first, second=second))
            reply = await self.propose(request, b"SWAPDB")
            if not reply.ok:
                raise BackendError(b"ERR SWAPDB failed: " + reply.error.encode())
            self.install(reply.applied.databases)
            if reply.swap_epoch:
                break
            # Refused for now: another swap (which this router helps finish), a slot move
            # or a membership operation is in flight.
            if time.monotonic() >= deadline:
                raise BackendError(
                    b"TRYAGAIN SWAPDB: another SWAPDB, a slot move or a membership change "
                    b"is in progress"
                )
            await self._drive_once()
            await asyncio.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE_S)
        await self.finish(reply.swap_epoch, deadline)

    async def finish(self, epoch: int, deadline: float) -> None:
        """Acknowledge the shards' fences of swap `epoch` until it committed."""
        pause = FIRST_PAUSE_S
        while int(self.state.get("epoch", 0)) < epoch:
            if time.monotonic() >= deadline:
                raise BackendError(
                    b"CLUSTERDOWN SWAPDB begun but not finished in time: a shard has no "
                    b"leader (it finishes once the shard has one)"
                )
            await self._drive_once()
            if int(self.state.get("epoch", 0)) >= epoch:
                return
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), pause)
            pause = min(pause * 2, LONGEST_PAUSE_S)

    async def _drive_once(self) -> None:
        """One pass over the pending swap's shards: acknowledge each committed fence."""
        pending = self.state.get("pending")
        if not pending:
            return
        epoch = int(pending["epoch"])
        fenced = set(pending.get("fenced", ()))
        for shard in pending.get("shards", ()):
            if shard in fenced:
                continue
            try:
                stats = await self.shard_stats(shard)
            except BackendError:
                continue
            held = max(int(stats.get("db_fence_epoch", 0)), int(stats.get("db_map_epoch", 0)))
            if held < epoch:
                continue
            step = pb.DbSwapStep(fenced_epoch=epoch, fenced_shard=shard)
            reply = await self.propose(pb.ConfigSetRequest(swap=step), b"SWAPDB")
            if reply.ok:
                self.install(reply.applied.databases)

    async def _orphans(self) -> None:
        """Finish swaps that stay pending (their router may be gone)."""
        while True:
            await asyncio.sleep(ORPHAN_AFTER_S / 2)
            pending = self.state.get("pending")
            if pending is None or time.monotonic() - self.pending_since < ORPHAN_AFTER_S:
                continue
            try:
                await self._drive_once()
            except BackendError as error:
                log.info("driving a pending SWAPDB: %s", error)

"""The router's SWAPDB driver against a fake metadata leader and fake shard stats: it begins
the swap, acknowledges each shard once that shard's fence is applied, retries a begin
refused while another swap is pending (helping that one finish), and finishes a swap whose
router went away."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from node.db_swaps import DbSwaps
from proto import slotraft_pb2 as pb
from router import db_swap_driver
from router.backend import BackendError
from router.db_swap_driver import DbSwapDriver


class FakeCluster:
    """The metadata group's DbSwaps behind ConfigSet, and shards whose fence applies when
    the test says so (`fence_applied`)."""

    def __init__(self, shards: list[int]) -> None:
        self.swaps = DbSwaps()
        self.shards = shards
        self.fence_applied: set[int] = set()
        self.acks: list[tuple[int, int]] = []
        self.next_id = 0

    async def propose(self, request: pb.ConfigSetRequest, what: bytes) -> pb.ConfigSetReply:
        step = request.swap
        self.next_id += 1
        entry_id = str(self.next_id)
        if step.fenced_epoch:
            self.acks.append((step.fenced_epoch, step.fenced_shard))
            command = self.swaps.fenced_command(step.fenced_epoch, step.fenced_shard, entry_id)
        else:
            command = self.swaps.begin_command(step.first, step.second, entry_id)
        self.swaps.apply(json.loads(json.dumps(command)), self.shards, "")
        applied = pb.ConfigValues(databases=json.dumps(self.swaps.to_json()))
        return pb.ConfigSetReply(
            ok=True, applied=applied, swap_epoch=self.swaps.results.get(entry_id, 0)
        )

    async def stats(self, shard: int) -> dict[str, Any]:
        pending = self.swaps.pending
        fence = pending.epoch if pending is not None and shard in self.fence_applied else 0
        return {"db_fence_epoch": fence, "db_map_epoch": self.swaps.epoch}


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_a_swap_commits_once_every_shard_s_fence_is_acknowledged() -> None:
    cluster = FakeCluster([0, 1, 2])

    async def scenario() -> None:
        driver = DbSwapDriver(cluster.propose, cluster.stats)
        swapping = asyncio.ensure_future(driver.swap(1, 2))
        await asyncio.sleep(0.05)
        assert not swapping.done()  # no shard has fenced yet
        cluster.fence_applied = {0, 2}
        await asyncio.sleep(0.3)
        assert not swapping.done()
        assert cluster.swaps.pending is not None and sorted(cluster.swaps.pending.fenced) == [0, 2]
        cluster.fence_applied.add(1)
        await asyncio.wait_for(swapping, 5)
        assert cluster.swaps.epoch == 1 and cluster.swaps.mapping[1:3] == [2, 1]

    run(scenario())


def test_a_begin_refused_by_a_pending_swap_helps_it_finish_then_swaps() -> None:
    cluster = FakeCluster([0, 1])
    cluster.fence_applied = {0, 1}

    async def scenario() -> None:
        orphan = DbSwapDriver(cluster.propose, cluster.stats)
        begun = await cluster.propose(
            pb.ConfigSetRequest(swap=pb.DbSwapStep(first=3, second=4)), b"SWAPDB"
        )
        assert begun.swap_epoch == 1  # begun, and its router "died" here
        orphan.install(begun.applied.databases)
        driver = DbSwapDriver(cluster.propose, cluster.stats)
        await asyncio.wait_for(driver.swap(5, 6), 5)
        assert cluster.swaps.epoch == 2
        assert cluster.swaps.mapping[3:7] == [4, 3, 6, 5]

    run(scenario())


def test_an_orphaned_swap_is_finished_by_any_router(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db_swap_driver, "ORPHAN_AFTER_S", 0.1)
    cluster = FakeCluster([0, 1, 2])
    cluster.fence_applied = {0, 1, 2}

    async def scenario() -> None:
        bystander = DbSwapDriver(cluster.propose, cluster.stats)
        bystander.start()
        try:
            begun = await cluster.propose(
                pb.ConfigSetRequest(swap=pb.DbSwapStep(first=0, second=9)), b"SWAPDB"
            )
            bystander.install(begun.applied.databases)  # as its settings watch would
            for _ in range(50):
                await asyncio.sleep(0.05)
                if cluster.swaps.epoch == 1:
                    break
            assert cluster.swaps.epoch == 1 and cluster.swaps.pending is None
        finally:
            await bystander.close()

    run(scenario())


def test_a_swap_that_cannot_finish_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db_swap_driver, "SWAP_BUDGET_S", 0.3)
    cluster = FakeCluster([0, 1])
    cluster.fence_applied = {0}  # shard 1 never fences (no leader)

    async def scenario() -> None:
        driver = DbSwapDriver(cluster.propose, cluster.stats)
        with pytest.raises(BackendError, match="not finished in time"):
            await driver.swap(1, 2)
        assert cluster.swaps.pending is not None  # still pending: it finishes later

    run(scenario())

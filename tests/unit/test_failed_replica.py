"""A replica whose apply raises (a local failure or a bug: apply itself is total) is
failed, not the node: it stops applying, voting and serving, the node's other shards go
on, and Admin Status and `slotraft ctl status` show the group, the entry and the error.
A one-node cluster in this process, two shards of one replica each."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from node.host import NodeHost, NodeSettings
from node.raft import Role
from node.services import AdminService
from node.shard_state import ShardState
from proto import slotraft_pb2 as pb
from proto.topology import ClusterDescription, NodeAddress
from slotraft.ctl import render_status

POISON = b"poison"


class _LocalFailure(RuntimeError):
    pass


def _poisoned_apply(original):
    def apply_steps(self: ShardState, data: bytes, *more):
        if POISON in data:
            yield  # fails midway, as a long entry may
            raise _LocalFailure("out of something at 0x7f")
        return (yield from original(self, data, *more))

    return apply_steps


async def _until(condition, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def _request(shard: int, request_id: int, *args: bytes) -> pb.KvRequest:
    return pb.KvRequest(id=request_id, shard=shard, args=list(args), arg_counts=[len(args)])


async def _scenario(data_dir: Path) -> None:
    description = ClusterDescription(
        nodes=(NodeAddress(1, "127.0.0.1:1"),), shards=2, replicas=1, metadata_replicas=1
    )
    host = NodeHost(1, description, data_dir, NodeSettings(balance_leaders=False))
    await host.start()
    try:
        await _until(lambda: all(r.raft.role is Role.LEADER for r in host.shards.values()))
        healthy = host.shards[1]
        first = await healthy.submit(_request(1, 1, b"SET", b"a", b"1"))
        assert first.status == pb.OK
        host.wake()

        poisoned = host.shards[0].submit(_request(0, 2, b"SET", POISON, b"1"))
        host.wake()
        reply = await asyncio.wait_for(poisoned, 20)
        assert reply.status == pb.NOT_LEADER  # its client is sent elsewhere
        failure = host.failed_groups[1]
        assert failure.error == "_LocalFailure: out of something at 0x7f"
        assert failure.index == host.failed_replicas[0].applied + 1
        assert 0 not in host.shards and 1 not in host.multi  # no serving, no voting
        assert host.running

        # the node's other shard goes on
        later = healthy.submit(_request(1, 3, b"INCR", b"n"))
        host.wake()
        assert (await asyncio.wait_for(later, 20)).replies == [b":1\r\n"]

        admin = AdminService(host)  # called without a gRPC context, which it does not use
        status = await admin.Status(pb.StatusRequest(), None)  # type: ignore[arg-type]
        shown = {info.id: info for info in status.local}
        assert shown[0].failed_index == failure.index
        assert shown[0].failure == failure.error
        assert shown[0].replica_status[0].role == "failed"
        assert not shown[1].failure
        text = render_status([status])
        assert f"FAILED (group 1) at entry {failure.index}: _LocalFailure" in text
        health = await admin.Health(pb.HealthRequest(), None)  # type: ignore[arg-type]
        assert health.serving and f"shard 0 failed at entry {failure.index}" in health.detail
    finally:
        await host.stop()


def test_a_replica_that_fails_to_apply_stops_alone(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(ShardState, "apply_steps", _poisoned_apply(ShardState.apply_steps))
    with caplog.at_level(logging.CRITICAL, logger="slotraft.replica"):
        asyncio.run(_scenario(tmp_path))
    assert any("this replica stops" in record.getMessage() for record in caplog.records)

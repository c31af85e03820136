"""A node's metrics (node/metrics.py) read from its host: one node of a one-node cluster in
this process, two shards of one replica each, snapshots every 20 entries. After some writes
each shard shows its role, indexes, keys, proposals and snapshots, the WAL its fsyncs; a
replica that fails to apply shows as failed while the other goes on."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from node.host import NodeHost, NodeSettings
from node.metrics import NodeCollector
from node.raft import Role
from node.shard_state import ShardState
from proto import slotraft_pb2 as pb
from proto.topology import ClusterDescription, NodeAddress
from tests.unit.test_failed_replica import POISON, _poisoned_apply, _request, _until


def scrape(host: NodeHost) -> dict[tuple[str, tuple], float]:
    registry = CollectorRegistry()
    registry.register(NodeCollector(host))
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def shard(value: str, **more: str) -> tuple:
    return tuple(sorted({"shard": value, **more}.items()))


async def _scenario(data_dir: Path) -> None:
    description = ClusterDescription(
        nodes=(NodeAddress(1, "127.0.0.1:1"),), shards=2, replicas=1, metadata_replicas=1
    )
    settings = NodeSettings(balance_leaders=False, snapshot_entries=20)
    host = NodeHost(1, description, data_dir, settings)
    await host.start()
    try:
        await _until(lambda: all(r.raft.role is Role.LEADER for r in host.shards.values()))
        for index in range(50):
            for shard_id in (0, 1):
                reply = host.shards[shard_id].submit(
                    _request(shard_id, index, b"SET", b"k%d" % index, b"v")
                )
                host.wake()
                assert (await asyncio.wait_for(reply, 20)).status == pb.OK
        samples = scrape(host)
        assert samples[("slotraft_node_info", (("node", "1"),))] == 1
        for name in ("0", "1"):
            assert samples[("slotraft_shard_role", shard(name, role="leader"))] == 1
            assert samples[("slotraft_shard_role", shard(name, role="follower"))] == 0
            assert samples[("slotraft_shard_leader", shard(name))] == 1
            assert samples[("slotraft_shard_term", shard(name))] >= 1
            applied = samples[("slotraft_shard_applied_index", shard(name))]
            assert applied >= 50
            assert samples[("slotraft_shard_commit_index", shard(name))] >= applied
            assert samples[("slotraft_shard_apply_lag", shard(name))] >= 0
            assert samples[("slotraft_shard_keys", shard(name))] == 50
            assert samples[("slotraft_shard_used_memory_bytes", shard(name))] > 0
            assert samples[("slotraft_shard_proposals_total", shard(name))] >= 50
            assert samples[("slotraft_shard_requests_total", shard(name))] == 50
            snapshots = samples[("slotraft_shard_snapshots_total", shard(name))]
            assert snapshots >= 2
            size = ("slotraft_shard_snapshot_size_bytes_count", shard(name))
            assert samples[size] == snapshots
            duration = ("slotraft_shard_snapshot_duration_seconds_count", shard(name))
            assert samples[duration] == snapshots
            assert samples[("slotraft_shard_snapshot_size_bytes_sum", shard(name))] > 0
        fsyncs = samples[("slotraft_wal_fsync_duration_seconds_count", ())]
        assert fsyncs >= 100  # every write waited for its own fsync here
        assert samples[("slotraft_wal_batches_total", ())] >= fsyncs - 1
        assert samples[("slotraft_wal_written_bytes_total", ())] > 0

        poisoned = host.shards[0].submit(_request(0, 99, b"SET", POISON, b"1"))
        host.wake()
        assert (await asyncio.wait_for(poisoned, 20)).status == pb.NOT_LEADER
        samples = scrape(host)
        assert samples[("slotraft_shard_role", shard("0", role="failed"))] == 1
        assert samples[("slotraft_shard_role", shard("0", role="leader"))] == 0
        assert samples[("slotraft_shard_role", shard("1", role="leader"))] == 1
        assert samples[("slotraft_shard_keys", shard("0"))] == 50
    finally:
        await host.stop()


def test_a_node_shows_each_shard_its_snapshots_and_its_wal(tmp_path, monkeypatch):
    monkeypatch.setattr(ShardState, "apply_steps", _poisoned_apply(ShardState.apply_steps))
    asyncio.run(_scenario(tmp_path))

"""A node's metrics, read from its host at scrape time: per shard replica its Raft state
(role, term, commit and applied index, apply lag, leader changes), proposals, memory and
keys, snapshots; for the node its WAL (fsync latency, bytes, batches). Nothing is counted
for them per request: the host keeps these figures anyway, and times what it measures
where it happens (a WAL batch's fsync in node/storage/wal.py, a snapshot in node/host.py).
Registered with proto.metrics.MetricsServer by node/main.py."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from node.host import NodeHost
from node.raft import Role
from node.replica import ShardReplica
from proto.metrics import histogram_family

ROLES = {
    Role.LEADER: "leader",
    Role.FOLLOWER: "follower",
    Role.CANDIDATE: "candidate",
    Role.PRE_CANDIDATE: "pre-candidate",
}
FAILED = "failed"  # a replica that could not apply an entry (NodeHost.failed_replicas)


class NodeCollector:
    def __init__(self, host: NodeHost) -> None:
        self.host = host

    def collect(self) -> Iterator[Metric]:
        host = self.host
        replicas: list[tuple[str, ShardReplica, bool]] = sorted(
            [(str(shard), replica, False) for shard, replica in host.shards.items()]
            + [(str(shard), replica, True) for shard, replica in host.failed_replicas.items()],
            key=lambda item: int(item[0]),
        )
        yield _info(host)
        role = GaugeMetricFamily(
            "slotraft_shard_role",
            "The replica's Raft role: 1 for the role it has, 0 for the others",
            labels=["shard", "role"],
        )
        gauges = {
            name: GaugeMetricFamily(name, documentation, labels=["shard"])
            for name, documentation in (
                ("slotraft_shard_leader", "The node the replica knows as its leader (0: none)"),
                ("slotraft_shard_term", "The replica's Raft term"),
                ("slotraft_shard_commit_index", "The highest log index known committed"),
                ("slotraft_shard_applied_index", "The highest log index applied"),
                ("slotraft_shard_apply_lag", "Entries committed but not yet applied"),
                ("slotraft_shard_last_index", "The highest index in the replica's log"),
                ("slotraft_shard_used_memory_bytes", "The shard's data in memory (estimate)"),
                ("slotraft_shard_keys", "Keys in the shard"),
            )
        }
        counters = {
            name: CounterMetricFamily(name, documentation, labels=["shard"])
            for name, documentation in (
                ("slotraft_shard_leader_changes", "Leaders the replica saw follow one another"),
                ("slotraft_shard_proposals", "Log entries this replica proposed as leader"),
                ("slotraft_shard_requests", "Client requests the replica received"),
                ("slotraft_shard_snapshots", "Snapshots the replica took"),
                ("slotraft_shard_snapshots_installed", "Snapshots installed from a leader"),
            )
        }
        for shard, replica, failed in replicas:
            status = replica.raft.status()
            current = FAILED if failed else ROLES.get(status.role, status.role.name.lower())
            for name in (*ROLES.values(), FAILED):
                role.add_metric([shard, name], 1 if name == current else 0)
            engine = replica.state.engine
            for name, value in (
                ("slotraft_shard_leader", status.leader),
                ("slotraft_shard_term", status.term),
                ("slotraft_shard_commit_index", status.commit),
                ("slotraft_shard_applied_index", replica.applied),
                ("slotraft_shard_apply_lag", max(0, status.commit - replica.applied)),
                ("slotraft_shard_last_index", status.last_index),
                ("slotraft_shard_used_memory_bytes", engine.used_memory()),
                ("slotraft_shard_keys", engine.key_count()),
            ):
                gauges[name].add_metric([shard], value)
            tally = replica.counters
            for name, value in (
                ("slotraft_shard_leader_changes", tally.leader_changes),
                ("slotraft_shard_proposals", tally.proposals),
                ("slotraft_shard_requests", tally.requests),
                ("slotraft_shard_snapshots", tally.snapshots),
                ("slotraft_shard_snapshots_installed", tally.snapshots_installed),
            ):
                counters[name].add_metric([shard], value)
        yield role
        yield from gauges.values()
        yield from counters.values()
        yield histogram_family(
            "slotraft_shard_snapshot_size_bytes",
            "Sizes of the snapshots the replica took",
            ["shard"],
            (([shard], replica.snapshot_bytes) for shard, replica, _ in replicas),
        )
        yield histogram_family(
            "slotraft_shard_snapshot_duration_seconds",
            "Time to take a snapshot: serialize the shard, write the file, commit its marker",
            ["shard"],
            (([shard], replica.snapshot_seconds) for shard, replica, _ in replicas),
        )
        yield from self._wal()

    def _wal(self) -> Iterator[Metric]:
        storage, committer = self.host.storage, self.host.committer
        if storage is None or committer is None:
            return  # not started yet
        wal = storage.wal
        yield histogram_family(
            "slotraft_wal_fsync_duration_seconds",
            "The WAL's fsync (fdatasync) of each group-commit batch",
            [],
            [([], wal.fsync_seconds)],
        )
        yield CounterMetricFamily(
            "slotraft_wal_written_bytes", "Bytes appended to the WAL", value=wal.bytes_written
        )
        yield CounterMetricFamily(
            "slotraft_wal_batches",
            "Group-commit batches written (one write and fsync each)",
            value=committer.committer.batches,
        )
        yield GaugeMetricFamily(
            "slotraft_wal_segments", "WAL segment files on disk", value=len(wal.sequences)
        )


def _info(host: NodeHost) -> GaugeMetricFamily:
    info = GaugeMetricFamily("slotraft_node_info", "This node's id (always 1)", labels=["node"])
    info.add_metric([str(host.node_id)], 1)
    return info

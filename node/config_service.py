"""The node's Config service (gRPC): CONFIG SET's cluster-wide half, the settings routers
watch, and what INFO shows of a node (its process, WAL, snapshots and replicas).

A CONFIG SET reaches any node; only the metadata group's leader proposes it (others
answer with the leader they know), and the reply waits until the entry applied there.
Each node then applies it: routers see it through `Watch`, shards through a settings entry
their leader proposes into the shard's own log (node/host.py); `Adoption` tells a router
which shards have applied it, so that CONFIG SET answers only once every shard has."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import resource
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import grpc

from node.host import NodeHost
from node.metadata import MetadataFormatError, MetadataState, parse_config
from node.raft import NotLeader, RaftError, Role
from node.storage.segments import segment_path
from proto import slotraft_pb2 as pb
from proto import slotraft_pb2_grpc as pb_grpc
from proto.acl import AclError

log = logging.getLogger("slotraft.config")

ROLE_NAMES = {
    Role.LEADER: "leader",
    Role.FOLLOWER: "follower",
    Role.CANDIDATE: "candidate",
    Role.PRE_CANDIDATE: "pre-candidate",
}


def config_values(host: NodeHost) -> pb.ConfigValues:
    version, values = host.effective_settings()
    assert host.metadata is not None
    acl = host.metadata.state.acl
    return pb.ConfigValues(
        version=version,
        values=values,
        acl_version=acl.version,
        acl=json.dumps(acl.to_json(), sort_keys=True),
        databases=json.dumps(host.metadata.state.db_swaps.to_json(), sort_keys=True),
    )


class ConfigService(pb_grpc.ConfigServicer):
    def __init__(self, host: NodeHost) -> None:
        self.host = host
        self.watchers: set[asyncio.Event] = set()
        assert host.metadata is not None
        host.metadata.state.settings_listeners.append(self._changed)

    def _changed(self) -> None:
        for event in self.watchers:
            event.set()

    async def Set(
        self, request: pb.ConfigSetRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfigSetReply:
        if request.acl_change:
            return await self._acl(request.acl_change)
        if request.HasField("swap"):
            return await self._swap(request.swap)
        settings = dict(request.values)
        try:
            # The check every replica makes when the entry applies, made first here so
            # that a refused change is an error, not an entry applied as a no-op.
            parse_config(MetadataState.config_command(settings, ""))
        except MetadataFormatError as error:
            return pb.ConfigSetReply(ok=False, error=str(error))
        failed = await _metadata_failure(self.host.propose_config(settings))
        return failed or pb.ConfigSetReply(ok=True, applied=config_values(self.host))

    async def _swap(self, step: pb.DbSwapStep) -> pb.ConfigSetReply:
        """A SWAPDB step (node/db_swaps.py), proposed by the metadata leader."""
        epochs: list[int] = []

        async def propose() -> None:
            if step.fenced_epoch:
                await self.host.propose_swap_fenced(step.fenced_epoch, step.fenced_shard)
            else:
                epochs.append(await self.host.propose_swapdb(step.first, step.second))

        failed = await _metadata_failure(propose())
        return failed or pb.ConfigSetReply(
            ok=True, applied=config_values(self.host), swap_epoch=epochs[0] if epochs else 0
        )

    async def _acl(self, text: str) -> pb.ConfigSetReply:
        """An ACL change: checked on a copy of the table first (a refusal is Redis's error
        reply), then replicated; the reply once it applied here."""
        assert self.host.metadata is not None
        try:
            change = json.loads(text)
            if type(change) is not dict:
                raise ValueError("not an object")
            result = self.host.metadata.state.acl.copy().apply(change, 0)
        except AclError as error:
            return pb.ConfigSetReply(ok=False, acl_refused=True, error=error.text.decode("latin-1"))
        except ValueError as error:
            return pb.ConfigSetReply(ok=False, error=f"malformed ACL change: {error}")
        failed = await _metadata_failure(self.host.propose_acl(change))
        if failed is not None:
            return failed
        return pb.ConfigSetReply(ok=True, applied=config_values(self.host), acl_result=result or 0)

    async def Watch(
        self, request: pb.StatusRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ConfigValues]:
        event = asyncio.Event()
        self.watchers.add(event)
        try:
            last: pb.ConfigValues | None = None
            while True:
                event.clear()
                current = config_values(self.host)
                if current != last:
                    last = current
                    yield current
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout=5)
        finally:
            self.watchers.discard(event)

    async def Report(
        self, request: pb.StatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.NodeReport:
        return node_report(self.host)

    async def Adoption(
        self, request: pb.StatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.SettingsAdoption:
        version, shards = self.host.settings_adoption()
        return pb.SettingsAdoption(version=version, shards=shards)


async def _metadata_failure(proposal: Coroutine[Any, Any, object]) -> pb.ConfigSetReply | None:
    """Await a metadata proposal: None once it applied, else the reply that says why not."""
    try:
        await proposal
    except NotLeader as error:
        return pb.ConfigSetReply(ok=False, error="not the leader", leader=error.leader_id)
    except RaftError as error:
        return pb.ConfigSetReply(ok=False, error=str(error))
    except TimeoutError:
        return pb.ConfigSetReply(
            ok=False, error="the metadata group did not apply the change in time"
        )
    return None


def node_report(host: NodeHost) -> pb.NodeReport:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report = pb.NodeReport(
        node=host.node_id,
        address=host.description.node(host.node_id).raft_address,
        uptime_seconds=time.time() - host.started,
        rss_bytes=_rss_bytes(),
        cpu_user_seconds=usage.ru_utime,
        cpu_sys_seconds=usage.ru_stime,
        snapshots_taken=host.snapshots_taken,
        peak_used_memory=host.peak_used_memory,
        # A failed WAL write or fsync stops the node (it must not acknowledge what it
        # could not make durable): a running node's WAL is healthy.
        wal_ok=host.running,
    )
    storage = host.storage
    if storage is not None:
        wal = storage.wal
        sequences = wal.sequences
        report.wal_segments = len(sequences)
        report.wal_bytes = sum(_size(segment_path(wal.directory, s)) for s in sequences)
        report.wal_bytes_written = wal.bytes_written
        newest = 0.0
        directory = storage.snapshots.directory
        with contextlib.suppress(OSError):
            for entry in os.scandir(directory):
                newest = max(newest, entry.stat().st_mtime)
        report.last_snapshot_time = newest
    for replica in host.shards.values():
        status = replica.raft.status()
        engine = replica.state.engine
        item = pb.ReplicaReport(
            shard=replica.placement.id,
            role=ROLE_NAMES.get(status.role, str(status.role)),
            term=status.term,
            commit=status.commit,
            applied=replica.applied,
            last_index=status.last_index,
            entries_since_snapshot=replica.entries_since_snapshot,
            used_memory=engine.used_memory(),
            keys=engine.key_count(),
        )
        if status.role is Role.LEADER:
            for node, peer in sorted(status.peers.items()):
                if node != host.node_id:
                    item.followers.append(
                        pb.ReplicaInfo(node=node, role=peer.state, match=peer.match)
                    )
        report.replicas.append(item)
    return report


def _size(path: os.PathLike) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

"""The node's I/O shell around its Raft groups: storage, transport, the tick and Ready loops.

All groups of the node share one MultiRaft, one WAL (one fsync covers every group: group
commit) and one transport (messages of every group to a peer travel in one batch). The
loop: take what clients and peers brought, ask every group for its Ready, persist it all
with one fsync, send, apply, advance. Proposals arriving while an fsync runs wait for the
next cycle, which is what batches them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import os
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from node.elastic import Elastic
from node.engine.config import EngineConfig, canonical_value
from node.engine.engine import Engine
from node.lost_disk import LostDiskGuard
from node.metadata import ClusterMap, MetadataState, initial_map
from node.pubsub import PubSubHub
from node.raft import (
    EntryType,
    MultiRaft,
    NotLeader,
    RaftConfig,
    RaftError,
    RaftNode,
    Ready,
    RestoredState,
    Role,
    Snapshot,
    bootstrap_state,
)
from node.raft.ready_policy import GroupWrite, ReadyPolicy
from node.replica import ShardReplica
from node.shard_state import ShardState
from node.storage import NodeStorage, snapshot_records
from node.storage.aio import AsyncGroupCommit
from node.storage.records import persist_records
from node.storage.wal import DEFAULT_SEGMENT_BYTES
from node.tracking_feed import invalidation_publisher
from node.transport import BatchHeader, RaftTransport
from proto.credentials import Credentials
from proto.handshake import ROLE_NODE, Peer
from proto.redis_config import CLUSTER_PARAMETERS, ENGINE_PARAMETERS, defaults
from proto.topology import METADATA_GROUP, ClusterDescription, ShardPlacement

log = logging.getLogger("slotraft.node")

METADATA_VOTERS = 5
# Committed entries are applied for at most this long per turn of the event loop (at least
# one step of each replica with entries to apply): a long apply pauses for ticks,
# heartbeats and the next Ready.
APPLY_SLICE_S = 0.01


@dataclass(slots=True)
class NodeSettings:
    # Election timeout 0.6-1.2 s (random in [election, 2 * election) ticks), heartbeats every
    # 100 ms: a dead leader is replaced in about a second. Small ticks give the random timeout
    # 30 distinct values, so that two followers rarely campaign at once (a split vote).
    tick_ms: int = 20
    election_ticks: int = 30
    heartbeat_ticks: int = 5
    snapshot_entries: int = 20_000  # applied entries between snapshots of a group
    wal_segment_bytes: int = DEFAULT_SEGMENT_BYTES
    housekeeping_ms: int = 100  # active expiry, eviction, leader balancing
    engine: EngineConfig = field(default_factory=EngineConfig)
    balance_leaders: bool = True
    # "loop": each Ready cycle's WAL batch is written and fsynced on the event loop after
    # sending and applying; "thread": on a writer thread while the loop goes on. The loop
    # is the default: with the nodes and the router sharing few cores the hand-off to a
    # thread cost more than the overlap won (node CPU per SET -P 16 6.5 µs against 8.5).
    wal_writer: Literal["loop", "thread"] = "loop"
    # Where to reach a peer for Raft traffic when it differs from its cluster address
    # (a fault-injection proxy in chaos tests): node id -> host:port.
    peer_addresses: dict[int, str] = field(default_factory=dict)
    # The cluster-wide settings the routers apply (slowlog, latency monitor) as this
    # node's --config file gives them (canonical values); the engine's are in `engine`.
    # CONFIG SET's values, replicated by the metadata group, take precedence over both.
    router_settings: dict[str, str] = field(default_factory=dict)
    # `slotraft node --join`: a node not in the cluster description, waiting to be added
    # (`slotraft ctl add-node`): it bootstraps no group and hosts what the map places on it.
    join: bool = False


@dataclass(frozen=True, slots=True)
class ReplicaFailure:
    """Why a shard replica stopped (NodeHost._apply_shard_ready)."""

    index: int  # the log entry (or snapshot) it could not apply
    error: str


class MetadataReplica:
    def __init__(
        self, raft: RaftNode, state: MetadataState, applied: int, applied_term: int = 0
    ) -> None:
        self.raft = raft
        self.state = state
        self.applied = applied
        self.applied_term = applied_term  # the term of the last entry applied
        self.entries_since_snapshot = 0
        self.install_proposed = False

    @property
    def current(self) -> bool:
        """Whether the state holds everything committed before this term: a leader is
        known and an entry of its term (its first, at least) has applied here. Until then,
        after a restart, the settings may be older than those the shards already hold."""
        return self.raft.leader != 0 and self.applied_term == self.raft.term


class NodeHost:
    def __init__(
        self,
        node_id: int,
        description: ClusterDescription,
        data_dir: Path,
        settings: NodeSettings | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        self.node_id = node_id
        # What the node presents to its peers (proto/handshake.py); without, a one-off key
        # that no peer knows (a node alone, in tests).
        self.credentials = credentials or Credentials(os.urandom(32), Peer("", node_id, ROLE_NODE))
        self.description = description
        self.data_dir = data_dir
        self.settings = settings or NodeSettings()
        self.started = time.time()
        self.multi = MultiRaft(node_id, random.Random())
        self.shards: dict[int, ShardReplica] = {}  # shard id -> replica
        self.by_group: dict[int, ShardReplica] = {}
        self.metadata: MetadataReplica | None = None
        self.storage: NodeStorage | None = None
        self.committer: AsyncGroupCommit | None = None
        self.transport: RaftTransport | None = None
        self.wakeup = asyncio.Event()
        # Set when the operator's tool retired this node (node/retire.py): it stops.
        self.retired = asyncio.Event()
        self.tasks: list[asyncio.Task] = []
        self.running = False
        self.last_transfer: dict[int, float] = {}
        self.tick_origin: float | None = None
        self.loop: asyncio.AbstractEventLoop  # set by start()
        self.ready_policy = ReadyPolicy()
        self.apply_turn = 0  # which shard replica applies first in the next slice
        self.ticks_delivered = 0
        self.tick_cpu = 0.0  # process CPU time when ticks were last delivered
        self.pubsub = PubSubHub()  # every router's subscriptions, for Kv.Publish/Subscribe
        self.lost_disk = LostDiskGuard(node_id, data_dir, len(description.nodes))
        # Replicas that failed to apply an entry, out of `shards` (shard id -> replica) and
        # why (group -> failure).
        self.failed_replicas: dict[int, ShardReplica] = {}
        self.failed_groups: dict[int, ReplicaFailure] = {}
        # Admin.Save (SAVE, BGSAVE, BGREWRITEAOF): requests waiting for a snapshot of every
        # replica, taken by the Ready loop between two cycles; and when the last such save
        # completed. Until one does, the node's start counts as one (as Redis counts its
        # own start): everything acknowledged is durable in the WAL.
        self.save_requests: list[asyncio.Future[float]] = []
        self.last_save = self.started
        # Admin.WaitReplicated: told after each Ready cycle, which is when a leader's view
        # of its followers' match indexes may have moved.
        self.cycle_waiters: list[asyncio.Future[None]] = []
        # CONFIG SET: proposals of this node waiting for their config entry to apply.
        self.config_waiters: dict[str, asyncio.Future] = {}
        self.settings_changed = asyncio.Event()  # set whenever the settings may have changed
        self.snapshots_taken = 0
        self.peak_used_memory = 0
        # Membership changes (node/elastic.py); told the map's node ids when they change
        # (the listener admits those peers).
        self.elastic = Elastic(self)
        self.on_nodes_changed: Callable[[frozenset[int]], None] | None = None
        self.reconcile_due = False

    # ------------------------------------------------------------------ start and stop

    async def start(self) -> None:
        self.loop = loop = asyncio.get_running_loop()
        raft_dir = self.data_dir / "raft"
        # Before the WAL exists: a new directory gets its identity first.
        await self.lost_disk.load(had_data=NodeStorage.holds_data(raft_dir))
        storage, restored = await loop.run_in_executor(
            None,
            functools.partial(
                NodeStorage.open,
                raft_dir,
                segment_bytes=self.settings.wal_segment_bytes,
                on_suspected_loss=self.lost_disk.storage_suspects_loss,
            ),
        )
        self.storage = storage
        self.committer = AsyncGroupCommit(
            storage.commit, on_loop=self.settings.wal_writer == "loop"
        )
        cluster = initial_map(self.description)
        bootstrap_records = []
        node_ids = sorted(cluster.nodes)
        meta_voters = tuple(node_ids[:METADATA_VOTERS])
        meta_learners = tuple(node_ids[METADATA_VOTERS:])
        if self.settings.join and METADATA_GROUP not in restored:
            # Added by the metadata leader as a member; everything comes from its log.
            state, fresh = RestoredState(), False
            self.ready_policy.restored(METADATA_GROUP, state.hard_state)
        else:
            state, fresh = self._restored_or_bootstrap(
                restored, METADATA_GROUP, meta_voters, meta_learners
            )
        if fresh:
            bootstrap_records += persist_records(
                METADATA_GROUP, entries=state.entries, hard_state=state.hard_state
            )
        meta_raft = self.multi.add_group(self._raft_config(METADATA_GROUP), state)
        meta_state = MetadataState(cluster)
        meta_state.settings_listeners.append(self._on_settings_applied)
        applied = applied_term = 0
        if state.snapshot is not None:
            meta_state.restore(state.snapshot.data)
            applied = state.snapshot.meta.index
            applied_term = state.snapshot.meta.term
        self.metadata = MetadataReplica(meta_raft, meta_state, applied, applied_term)
        for placement in cluster.shards:
            # The description's replicas, and those a membership change placed here since.
            initial = self.node_id in placement.replicas and not self.settings.join
            if not initial and placement.group not in restored:
                continue
            state, fresh = self._restored_or_bootstrap(
                restored, placement.group, placement.replicas, ()
            )
            if fresh:
                bootstrap_records += persist_records(
                    placement.group, entries=state.entries, hard_state=state.hard_state
                )
            self._add_shard(placement, state)
        if bootstrap_records:
            await self.committer.commit(bootstrap_records)
        peers = {node.id: node.raft_address for node in self.description.nodes}
        peers.update(meta_state.map.nodes)  # nodes added since, as of the last snapshot
        peers.update(self.settings.peer_addresses)
        self.transport = RaftTransport(
            self.node_id,
            peers,
            self._on_raft_batch,
            self._on_unreachable,
            self.credentials,
            self.lost_disk.header,
        )
        self.lost_disk.start(self.multi, self.committer.run, self.transport.announce, self.wake)
        self.transport.start()
        self.running = True
        self.tasks = [
            loop.create_task(self._tick_loop(), name="tick"),
            loop.create_task(self._ready_loop(), name="ready"),
            loop.create_task(self._housekeeping_loop(), name="housekeeping"),
        ]
        log.info(
            "node %d hosts shards %s",
            self.node_id,
            sorted(self.shards),
            extra={"node": self.node_id, "shard": "-"},
        )

    def _add_shard(self, placement: ShardPlacement, state: RestoredState) -> ShardReplica:
        raft = self.multi.add_group(self._raft_config(placement.group), state)
        # A config of its own: each shard changes its settings at a point of its log.
        engine = Engine(dataclasses.replace(self.settings.engine))
        shard_state = ShardState(engine)
        shard_state.slots.start(placement.slots)  # until slot moves change them
        engine.owns_slot = shard_state.slots.owns
        applied = 0
        if state.snapshot is not None:
            shard_state.restore(state.snapshot.data)
            applied = state.snapshot.meta.index
        replica = ShardReplica(self.node_id, placement, raft, shard_state, applied)
        replica.publish = self.pubsub.publish  # keyspace notifications, while leading
        replica.on_changed = invalidation_publisher(self.pubsub)  # client tracking
        self.shards[placement.id] = replica
        self.by_group[placement.group] = replica
        return replica

    def host_shard(self, placement: ShardPlacement, state: RestoredState) -> None:
        """A replica added to a running node (node/elastic.py): empty, it waits for its
        leader's snapshot and log. At the start of a cycle (no Ready outstanding)."""
        self.ready_policy.restored(placement.group, state.hard_state)
        self._add_shard(placement, state)
        self.wakeup.set()

    def release_shard(self, shard_id: int) -> None:
        """A replica moved away (node/elastic.py): it stops; its clients go elsewhere. At
        the start of a cycle. Its records stay in the WAL (see docs/DESIGN.md)."""
        replica = self.shards.pop(shard_id)
        del self.by_group[replica.group]
        if replica.group in self.multi:
            self.multi.remove_group(replica.group)
            self.ready_policy.forget(replica.group)
        replica.to_apply.clear()
        replica.applying = None
        replica._lost_leadership(0)

    def _restored_or_bootstrap(
        self,
        restored: dict[int, RestoredState],
        group: int,
        voters: tuple[int, ...],
        learners: tuple[int, ...],
    ) -> tuple[RestoredState, bool]:
        state = restored.get(group)
        fresh = state is None
        if state is None:
            state = bootstrap_state(voters, learners)
        self.ready_policy.restored(group, state.hard_state)
        return state, fresh

    def _raft_config(self, group: int) -> RaftConfig:
        settings = self.settings
        return RaftConfig(
            node_id=self.node_id,
            group_id=group,
            election_ticks=settings.election_ticks,
            heartbeat_ticks=settings.heartbeat_ticks,
            eager_commit=False,
        )

    async def stop(self) -> None:
        self.running = False
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for save in self.save_requests:
            save.cancel()
        for waiter in self.cycle_waiters:
            waiter.cancel()
        if self.transport is not None:
            await self.transport.stop()
        if self.committer is not None:
            await self.committer.close()
        if self.storage is not None:
            self.storage.close()

    # ------------------------------------------------------------------ inputs

    def wake(self) -> None:
        self.wakeup.set()

    def _on_raft_batch(self, header: BatchHeader, messages: list) -> None:
        if self.lost_disk.admit(header) and messages:
            self.multi.step(messages)
            self.wakeup.set()

    def _on_unreachable(self, peer: int) -> None:
        for raft in self.multi:
            raft.report_unreachable(peer)

    async def _tick_loop(self) -> None:
        interval = self.settings.tick_ms / 1000
        loop = self.loop
        self.tick_origin = loop.time()
        while self.running:
            self._catch_up_ticks()
            next_tick = self.tick_origin + (self.ticks_delivered + 1) * interval
            await asyncio.sleep(max(0.0, next_tick - loop.time()))

    def _catch_up_ticks(self) -> None:
        """Deliver every tick that real time says is due. After a stall (GC, SIGSTOP, a
        slow cycle) the missed ticks all arrive before anything else is decided: leases
        and election timers must never run slower than real time."""
        if self.tick_origin is None:
            return
        interval = self.settings.tick_ms / 1000
        due = int((self.loop.time() - self.tick_origin) / interval)
        if due > self.ticks_delivered:
            # (Read once per tick, not per call: every Ready cycle comes here.)
            cpu = time.process_time()
            if due - self.ticks_delivered > self.settings.election_ticks // 2:
                # The CPU the process used meanwhile tells its own long step (about as much
                # CPU as time) from a machine that starved it or a blocking call (far less).
                log.warning(
                    "the event loop stalled for %d ms (the process used %d ms of CPU meanwhile)",
                    (due - self.ticks_delivered) * self.settings.tick_ms,
                    (cpu - self.tick_cpu) * 1000,
                    extra={"node": self.node_id, "shard": "-"},
                )
            self.tick_cpu = cpu
            for _ in range(due - self.ticks_delivered):
                self.multi.tick()
            self.ticks_delivered = due
            self.wakeup.set()

    # ------------------------------------------------------------------ the Ready cycle

    async def _ready_loop(self) -> None:
        while self.running:
            if self.wakeup.is_set():
                # An Event already set returns from wait() without a turn of the loop: give
                # one, so that ticks and peers' messages (heartbeats) get in between cycles.
                await asyncio.sleep(0)
            await self.wakeup.wait()
            self.wakeup.clear()
            try:
                await self._cycle()
                await self._save_if_requested()
                self._cycle_done()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "Ready cycle failed; stopping the node to protect the data",
                    extra={"node": self.node_id, "shard": "-"},
                )
                self.running = False
                raise

    async def _cycle(self) -> None:
        started = time.perf_counter()
        self._catch_up_ticks()
        if self.reconcile_due:
            self.reconcile_due = False
            self.elastic.reconcile()
        for replica in self.shards.values():
            if replica.has_work():
                replica.flush()
        self._maybe_install_metadata()
        if not self.multi.has_ready():
            self._apply_pending()
            if any(r.applying is not None or r.to_apply for r in self.shards.values()):
                self.wakeup.set()
            return
        batch = self.multi.ready()
        assert self.committer is not None and self.storage is not None
        # One policy for every Ready loop (node/raft/ready_policy.py says why each step may
        # come where it does).
        plan = self.ready_policy.plan(batch)
        records = []
        for write in plan.writes:
            if write.snapshot is not None:
                await self.committer.run(self.storage.save_snapshot, write.group, write.snapshot)
            records += persist_records(
                write.group,
                snapshot=write.snapshot.meta if write.snapshot is not None else None,
                truncate_from=write.truncate_from,
                entries=write.entries,
                hard_state=write.hard_state,
            )
        assert self.transport is not None
        # The batch is handed over now; on a writer thread it is written while the rest of
        # the cycle (sending, applying) uses the loop, on the loop it is written when awaited
        # below, after that (wal_writer in NodeSettings).
        written = self.committer.submit(records) if records else None
        self.transport.send(plan.early)
        for group, ready in batch.groups.items():
            if group == METADATA_GROUP:
                self._apply_metadata(ready)
            else:
                shard_replica = self.by_group.get(group)
                if shard_replica is not None:
                    self._apply_shard_ready(shard_replica, ready)
        self._apply_pending()
        for group in list(self.failed_groups):
            if group in self.multi:
                self.multi.remove_group(group)  # after the loop: it edits batch.groups
                self.ready_policy.forget(group)
        synced = time.perf_counter()
        if written is not None:
            await self.committer.durable(written)
        self.transport.send(plan.late)
        self.multi.advance(batch)
        await self._maybe_snapshot()
        self._report_slow_cycle(started, synced, plan.writes)
        if self.multi.has_ready() or any(
            r.has_work() or r.applying is not None or r.to_apply for r in self.shards.values()
        ):
            self.wakeup.set()

    def _report_slow_cycle(self, started: float, synced: float, writes: list[GroupWrite]) -> None:
        """A cycle longer than half an election timeout holds the acknowledgements and
        heartbeat answers that keep the leaders in place: say where its time went."""
        ended = time.perf_counter()
        limit = self.settings.tick_ms * self.settings.election_ticks / 2000
        if ended - started > limit:
            log.warning(
                "slow Ready cycle: %.0f ms (%.0f ms before the write was durable, %.0f ms "
                "waiting for it; %d entries of %d bytes written)",
                (ended - started) * 1000,
                (synced - started) * 1000,
                (ended - synced) * 1000,
                sum(len(write.entries) for write in writes),
                sum(len(entry.data) for write in writes for entry in write.entries),
                extra={"node": self.node_id, "shard": "-"},
            )

    def _apply_pending(self) -> None:
        """Apply committed entries for at most APPLY_SLICE_S (at least one step of each
        replica that has some), then let the loop run: ticks, heartbeats and the next
        cycle's Ready go out between slices of a long apply (ShardReplica.apply_pending)."""
        deadline = time.perf_counter() + APPLY_SLICE_S
        replicas = list(self.shards.values())
        # One slice for all: replicas take turns to go first (the first always makes a
        # step; the others only while the slice lasts).
        self.apply_turn = (self.apply_turn + 1) % max(len(replicas), 1)
        for position, replica in enumerate(
            replicas[self.apply_turn :] + replicas[: self.apply_turn]
        ):
            if replica.applying is None and not replica.to_apply:
                continue
            if position and time.perf_counter() >= deadline:
                break
            try:
                replica.apply_pending(deadline)
            except Exception as error:
                if replica.applying is not None:
                    failed_at = replica.applying[0].index
                else:
                    failed_at = replica.applied + 1
                if replica.applying_proposal is not None:
                    replica._fail(replica.applying_proposal.waiting, 0)
                self._fail_replica(replica, failed_at, error)

    def _apply_shard_ready(self, replica: ShardReplica, ready: Ready) -> None:
        """Hand a shard's Ready to its replica (the entries it commits are applied by
        `_apply_pending`); a replica whose apply raises is failed, not the node.

        Apply is total (node.shard_state): what the entry and the replicated state decide
        becomes a reply. What still escapes is local (memory, the C stack) or a bug in the
        node's own code, so the replica stops: it no longer applies, votes or serves (its
        group leaves the MultiRaft, its clients are told to go elsewhere), its other groups
        go on, and Admin Status shows the entry and the error. The node stays up: exiting
        would stop every shard it hosts and, restarted, replay the same entry into the same
        failure. The failure is not written to the data dir: a restart replays the entry,
        so it either recovers (a local failure gone) or records the same failure again."""
        try:
            replica.on_ready(ready)  # installs a snapshot; entries are applied in slices
        except Exception as error:
            snapshot = ready.snapshot
            failed_at = snapshot.meta.index if snapshot is not None else replica.applied
            self._fail_replica(replica, failed_at, error)
            return
        if ready.soft_state is not None:
            self._log_role(replica, ready)

    def _fail_replica(self, replica: ShardReplica, failed_at: int, error: Exception) -> None:
        """The replica stops (see _apply_shard_ready); its clients retry elsewhere."""
        failure = ReplicaFailure(failed_at, f"{type(error).__name__}: {error}"[:500])
        replica.log.critical(
            "applying entry %d of group %d failed; this replica stops (no applying, voting "
            "or serving) while the node's other groups go on; `slotraft ctl status` shows "
            "it; restart the node to retry",
            failed_at,
            replica.group,
            exc_info=error,
        )
        self.failed_groups[replica.group] = failure
        self.failed_replicas[replica.placement.id] = replica
        del self.shards[replica.placement.id]
        del self.by_group[replica.group]
        replica.to_apply.clear()
        replica.applying = None
        replica._lost_leadership(0)

    def _log_role(self, replica: ShardReplica, ready: Ready) -> None:
        soft = ready.soft_state
        assert soft is not None
        replica.note_leader(soft.leader)
        replica.log.info(
            "role %s, leader %d, term %d", soft.role.name.lower(), soft.leader, replica.raft.term
        )

    def _apply_metadata(self, ready: Ready) -> None:
        meta = self.metadata
        assert meta is not None
        if ready.snapshot is not None:
            meta.state.restore(ready.snapshot.data)
            meta.applied = ready.snapshot.meta.index
            meta.applied_term = ready.snapshot.meta.term
        for entry in ready.committed_entries:
            if entry.index <= meta.applied:
                continue
            meta.applied = entry.index
            meta.applied_term = entry.term
            meta.entries_since_snapshot += 1
            if entry.type == EntryType.NORMAL and entry.data:
                meta.state.apply(entry.index, entry.data)

    def _maybe_install_metadata(self) -> None:
        """The metadata group's first leader installs the map derived from the description."""
        meta = self.metadata
        if meta is None or meta.state.installed or meta.install_proposed:
            return
        raft = meta.raft
        if raft.role is not Role.LEADER or not meta.current:
            # Not before an entry of its term applied: after a restart the first install
            # may be committed but not applied yet, and the map since (membership changes)
            # must not be replaced by the description's again.
            return
        try:
            raft.propose(MetadataState.install_command(meta.state.map))
            meta.install_proposed = True
        except (NotLeader, RaftError):
            pass

    def request_save(self) -> asyncio.Future[float]:
        """Snapshot every replica (Admin.Save); the future gives the Unix time the snapshots
        were complete. Snapshotting also deletes the WAL segments they cover (all but the
        segment being written, once every group's snapshot covers them)."""
        future: asyncio.Future[float] = self.loop.create_future()
        self.save_requests.append(future)
        self.wake()
        return future

    async def _save_if_requested(self) -> None:
        """Take the snapshots the Save requests wait for. Between cycles, so that no other
        snapshot of a group is under way; a replica in the middle of an entry finishes it
        first (the cycles go on applying it). A replica whose snapshot already covers what
        it applied keeps that snapshot: it is the state saved now."""
        if not self.save_requests:
            return
        if any(replica.mid_entry for replica in self.shards.values()):
            self.wakeup.set()
            return
        requests, self.save_requests = self.save_requests, []
        for replica in list(self.shards.values()):
            await self._snapshot_replica(replica)
        if self.metadata is not None:
            await self._snapshot_replica(self.metadata)
        self.last_save = time.time()
        for future in requests:
            if not future.done():
                future.set_result(self.last_save)

    def next_cycle(self) -> asyncio.Future[None]:
        """Resolved once the next Ready cycle has run (one runs at least every tick)."""
        future: asyncio.Future[None] = self.loop.create_future()
        self.cycle_waiters.append(future)
        return future

    def _cycle_done(self) -> None:
        waiters, self.cycle_waiters = self.cycle_waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    async def _maybe_snapshot(self) -> None:
        limit = self.settings.snapshot_entries
        for replica in self.shards.values():
            if replica.entries_since_snapshot >= limit and not replica.mid_entry:
                await self._snapshot_replica(replica)
        meta = self.metadata
        if meta is not None and meta.entries_since_snapshot >= limit:
            await self._snapshot_replica(meta)
        assert self.storage is not None
        # A group that writes little (the metadata group, a quiet shard) would otherwise keep
        # the oldest WAL segment, and so every later one, for ever: replay at start would
        # read the whole history. Snapshot it once it has applied what pins the segment.
        for group, highest in self.storage.wal.groups_pinning_segments().items():
            holder = meta if group == METADATA_GROUP else self.by_group.get(group)
            if holder is None or holder.applied < highest:
                continue
            if isinstance(holder, ShardReplica) and holder.mid_entry:
                continue  # its state is between two log indexes
            taken = holder.raft.snapshot
            if taken is None or taken.meta.index < holder.applied:
                await self._snapshot_replica(holder)

    async def _snapshot_replica(self, replica: ShardReplica | MetadataReplica) -> None:
        group = METADATA_GROUP if isinstance(replica, MetadataReplica) else replica.group
        started = time.perf_counter()
        data = replica.state.snapshot()
        await self._snapshot_group(group, replica.raft, replica.applied, data)
        replica.entries_since_snapshot = 0
        self.snapshots_taken += 1
        if isinstance(replica, ShardReplica):
            replica.counters.snapshots += 1
            replica.snapshot_bytes.observe(len(data))
            replica.snapshot_seconds.observe(time.perf_counter() - started)

    async def _snapshot_group(self, group: int, raft: RaftNode, applied: int, data: bytes) -> None:
        snapshot_meta = raft.compact(applied, data)
        if snapshot_meta is None:
            return
        assert self.committer is not None and self.storage is not None
        await self.committer.run(self.storage.save_snapshot, group, Snapshot(snapshot_meta, data))
        await self.committer.commit(snapshot_records(group, snapshot_meta, replaces_log=False))
        log.info(
            "snapshot of group %d at index %d (%d bytes)",
            group,
            snapshot_meta.index,
            len(data),
            extra={"node": self.node_id, "shard": "-" if group == METADATA_GROUP else group - 1},
        )

    # ------------------------------------------------------------------ housekeeping

    async def _housekeeping_loop(self) -> None:
        interval = self.settings.housekeeping_ms / 1000
        while self.running:
            await asyncio.sleep(interval)
            proposed = 0
            for replica in self.shards.values():
                proposed += replica.propose_expiry()
                proposed += replica.propose_eviction()
                if self.settings.balance_leaders:
                    self._balance(replica)
            if self._sync_shard_settings():
                proposed += 1
            if self._sync_db_maps():
                proposed += 1
            if self.metadata is not None and self.metadata.current:
                self.reconcile_due = True  # at the next cycle's start: no Ready outstanding
                proposed += self.elastic.drive()
            if proposed:
                self.wakeup.set()
            self.lost_disk.check_caught_up()
            self.peak_used_memory = max(
                self.peak_used_memory,
                sum(r.state.engine.used_memory() for r in self.shards.values()),
            )

    def _balance(self, replica: ShardReplica) -> None:
        """Hand leadership to the shard's preferred replica (replicas[0]) when it has caught
        up, so that leaders spread over the nodes; at most every 10 s per shard."""
        raft = replica.raft
        preferred = replica.placement.replicas[0]
        if raft.role is not Role.LEADER or preferred == self.node_id:
            return
        now = time.monotonic()
        if now - self.last_transfer.get(replica.group, 0) < 10:
            return
        status = raft.status()
        peer = status.peers.get(preferred)
        if peer is None or peer.match < status.last_index or peer.state != "replicate":
            return
        self.last_transfer[replica.group] = now
        try:
            raft.transfer_leader(preferred)
            replica.log.info("transferring leadership to preferred node %d", preferred)
            self.wakeup.set()
        except RaftError:
            pass

    # ------------------------------------------------------------------ settings

    def base_settings(self) -> dict[str, str]:
        """This node's own cluster-wide settings: Redis's defaults, its flags and --config
        file (canonical values)."""
        values = defaults(CLUSTER_PARAMETERS)
        values.update(self.settings.router_settings)
        engine = self.settings.engine
        values.update({name: canonical_value(engine, name) for name in ENGINE_PARAMETERS})
        return values

    def effective_settings(self) -> tuple[int, dict[str, str]]:
        """The cluster-wide settings as this node applies them (its own, with the metadata
        group's on top) and the metadata log index of the last change."""
        assert self.metadata is not None
        state = self.metadata.state
        values = self.base_settings()
        values.update(state.settings)
        return state.settings_version, values

    def _shard_settings(self) -> dict[str, str]:
        assert self.metadata is not None
        return {
            name: value
            for name, value in self.metadata.state.settings.items()
            if name in ENGINE_PARAMETERS
        }

    def _sync_shard_settings(self) -> bool:
        """Each shard this node leads proposes the metadata group's engine settings into
        its own log when it does not hold them yet (after a CONFIG SET, a leader change, a
        restart): whether any did. Not before the metadata state is current: after a
        restart it may be older than what the shards hold."""
        assert self.metadata is not None
        if not self.metadata.current:
            return False
        desired = self._shard_settings()
        proposed = False
        for replica in self.shards.values():
            proposed |= replica.propose_settings(desired)
        return proposed

    def settings_adoption(self) -> tuple[int, list[int]]:
        """The metadata settings version this node holds and the shards of which a replica
        here has applied exactly its engine settings (CONFIG SET waits for every shard)."""
        assert self.metadata is not None
        version = self.metadata.state.settings_version
        desired = self._shard_settings()
        adopted = [r.placement.id for r in self.shards.values() if r.state.settings == desired]
        return version, sorted(adopted)

    def _on_settings_applied(self) -> None:
        """A config entry (or a snapshot) applied in the metadata group."""
        if self.metadata is None:  # restored at start, before anything waits
            return
        applied = self.metadata.state.applied_config_ids
        for config_id in [i for i in self.config_waiters if i in applied]:
            future = self.config_waiters.pop(config_id)
            if not future.done():
                future.set_result(None)
        self.settings_changed.set()
        # Not now: this runs while a Ready is being handled; the next cycle proposes.
        self.loop.call_soon(self._propose_settings_soon)

    def _propose_settings_soon(self) -> None:
        if not self.running:
            return
        proposed = self._sync_shard_settings()
        if self._sync_db_maps():
            proposed = True
        if proposed:
            self.wakeup.set()

    def _sync_db_maps(self) -> bool:
        """Each shard this node leads proposes the metadata group's database map and the
        fence of a swap in progress (node/db_swaps.py) when it does not hold them: whether
        any did. Not before the metadata state is current (after a restart it may be older
        than what the shards hold)."""
        assert self.metadata is not None
        if not self.metadata.current:
            return False
        desired = self.metadata.state.db_swaps.desired()
        proposed = False
        for replica in self.shards.values():
            proposed |= replica.propose_db_map(desired)
        return proposed

    async def propose_swapdb(self, first: int, second: int, timeout: float = 5.0) -> int:
        """Begin SWAPDB first second in the metadata group: the swap's epoch once the entry
        applied here, 0 if it was refused (another swap, a slot move or a membership
        operation in flight). NotLeader / TimeoutError as propose_config."""
        assert self.metadata is not None
        swaps = self.metadata.state.db_swaps
        ids: list[str] = []

        def command(entry_id: str) -> bytes:
            ids.append(entry_id)
            return json.dumps(swaps.begin_command(first, second, entry_id)).encode()

        await self._propose_metadata(command, timeout)
        return swaps.results.get(ids[0], 0)

    async def propose_swap_fenced(self, epoch: int, shard: int, timeout: float = 5.0) -> None:
        """Record in the metadata group that `shard` committed the fence of swap `epoch`."""
        assert self.metadata is not None
        swaps = self.metadata.state.db_swaps
        await self._propose_metadata(
            lambda entry_id: json.dumps(swaps.fenced_command(epoch, shard, entry_id)).encode(),
            timeout,
        )

    async def propose_config(self, settings: dict[str, str], timeout: float = 5.0) -> None:
        """Replicate cluster-wide settings (canonical names and values) through the
        metadata group; returns once the entry applied here. NotLeader if this node does
        not lead the group, TimeoutError if it did not apply in time."""
        await self._propose_metadata(
            lambda config_id: MetadataState.config_command(settings, config_id), timeout
        )

    async def propose_acl(self, change: dict, timeout: float = 5.0) -> None:
        """Replicate an ACL change (proto/acl_table.py) through the metadata group; returns
        once the entry applied here. NotLeader / TimeoutError as propose_config."""
        await self._propose_metadata(
            lambda config_id: MetadataState.acl_command(change, config_id), timeout
        )

    async def _propose_metadata(self, command: Callable[[str], bytes], timeout: float) -> None:
        """Propose the metadata entry command(id) and wait until the entry with that id
        applied here."""
        meta = self.metadata
        assert meta is not None
        if meta.raft.role is not Role.LEADER:
            raise NotLeader(meta.raft.leader)
        config_id = secrets.token_hex(16)
        future = self.loop.create_future()
        self.config_waiters[config_id] = future
        try:
            meta.raft.propose(command(config_id))
            self.wakeup.set()
            await asyncio.wait_for(future, timeout)
        finally:
            self.config_waiters.pop(config_id, None)

    # ------------------------------------------------------------------ queries

    @property
    def cluster_map(self) -> ClusterMap:
        assert self.metadata is not None
        return self.metadata.state.map

    def placement(self, shard: int) -> ShardPlacement | None:
        for placement in self.cluster_map.shards:
            if placement.id == shard:
                return placement
        return None

"""One shard replica on a node: a Raft group, the shard state, and the clients waiting on it.

The replica turns client requests into proposals (one entry per batch: all requests that
arrived since the previous Ready cycle), answers them when their entry is applied, serves
linearizable reads through ReadIndex (or the lease), parks blocking commands until a
later entry touches their keys, and proposes the leader-only housekeeping (active expiry,
eviction). It does no I/O itself: the host persists, sends and calls `on_ready`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Collection, Generator
from dataclasses import dataclass, field
from typing import Any

from node import entry_codec
from node.engine.blocking import WouldBlock, may_serve
from node.engine.engine import Engine
from node.notifications import Publish, publish_events
from node.raft import EntryType, NotLeader, RaftNode, Ready, Role
from node.shard_state import EntryResult, RequestResult, ShardState
from node.slot_entries import MOVING_REPLY, SlotResult
from proto import resp
from proto import slotraft_pb2 as pb
from proto.commands import timeout_reply
from proto.databases import DATABASES
from proto.histogram import SIZE_BUCKETS, Histogram
from proto.kv_commands import commands_of
from proto.running_loop import running_loop
from proto.topology import ShardPlacement

log = logging.getLogger("slotraft.replica")

UNBLOCKED = b"UNBLOCKED client unblocked via CLIENT UNBLOCK"

# Writes that arrive together are proposed as one entry of about this many bytes at most.
MAX_ENTRY_BYTES = 1 << 20

# Reads are served on the loop that also ticks Raft and sends heartbeats: once they have
# taken this long in one loop turn, the rest wait for the next turn (reads are not
# replicated, so where they pause depends on nothing but time). A slice runs at least one
# command, which may take longer (up to max-command-work); then the reads pause for as
# long as the slice overran, up to READ_PAUSE_MAX_S: the overdue ticks, the Ready cycle
# that sends heartbeats and applies entries, and the incoming messages, which may need
# several loop turns, all run before the next slice. (The longest gap between heartbeats
# is one slice, however long the pause.)
READ_SLICE_S = 0.005
READ_PAUSE_MAX_S = 0.05


def to_entry_request(request: pb.KvRequest) -> entry_codec.Request:
    """The part of a client request that goes into the log (every replica applies it)."""
    return entry_codec.Request(
        request.client_id,
        request.sequence,
        request.acked,
        request.kind,
        request.resp3,
        commands_of(request),
        [(watch.key, watch.digest) for watch in request.watches],
        request.caller,
        request.db,
    )


def script_denials(denials: list[tuple[int, int, bytes]]) -> list[pb.ScriptDenial]:
    return [pb.ScriptDenial(command=i, reason=r, object=obj) for i, r, obj in denials]


def not_leader_reply(request: pb.KvRequest, leader: int) -> pb.KvReply:
    return pb.KvReply(id=request.id, status=pb.NOT_LEADER, leader_node=leader)


@dataclass(slots=True)
class Waiter:
    """A blocking command parked until one of its keys changes or its deadline passes."""

    request: pb.KvRequest
    future: asyncio.Future
    keys: set[bytes]
    deadline: float | None  # loop time; None blocks forever
    timer: asyncio.TimerHandle | None = None


@dataclass(slots=True)
class Pending:
    """A request waiting for its entry to apply; `waiter` is set when it is the retry of a
    parked blocking command (its deadline still counts from the first attempt)."""

    request: pb.KvRequest
    future: asyncio.Future
    waiter: Waiter | None = None


@dataclass(slots=True)
class ReadJob:
    """A read being served, possibly over several loop turns: the replies of its commands
    so far (a request may carry many commands, each up to max-command-work)."""

    request: pb.KvRequest
    future: asyncio.Future
    commands: list[list[bytes]] | None = None
    replies: list[bytes] = field(default_factory=list)
    denials: list[tuple[int, int, bytes]] = field(default_factory=list)  # (KvReply's)


@dataclass(slots=True)
class Proposal:
    term: int
    waiting: list[Pending]


@dataclass(slots=True)
class ReplicaCounters:
    proposals: int = 0
    requests: int = 0
    reads: int = 0
    snapshots: int = 0
    snapshots_installed: int = 0  # sent by a leader
    leader_changes: int = 0  # leaders this replica saw follow one another


class ShardReplica:
    def __init__(
        self,
        node_id: int,
        placement: ShardPlacement,
        raft: RaftNode,
        state: ShardState,
        applied: int,
    ) -> None:
        self.node_id = node_id
        self.placement = placement
        self.raft = raft
        self.state = state
        self.applied = applied
        # Called on the leader with the keys each applied entry changed and the NOLOOP
        # client that alone changed them (0: none; client tracking: node/tracking_feed.py);
        # None: nobody wants them.
        self.on_changed: Callable[[Collection[bytes], int], None] | None = None
        self.log = logging.LoggerAdapter(log, {"node": node_id, "shard": placement.id})
        self.pending_writes: list[Pending] = []
        self.proposals: dict[int, Proposal] = {}
        self.pending_reads: list[tuple[pb.KvRequest, asyncio.Future]] = []
        self.read_batches: dict[bytes, list[tuple[pb.KvRequest, asyncio.Future]]] = {}
        self.reads_waiting_apply: deque[tuple[int, list[tuple[pb.KvRequest, asyncio.Future]]]] = (
            deque()
        )
        # Reads that may be served now (their read index applied, or follower reads), in
        # order, and whether a later loop turn is already asked to go on with them.
        self.runnable_reads: deque[ReadJob] = deque()
        self.reads_resume_scheduled = False  # a later turn goes on with them (maybe paused)
        self.waiters: list[Waiter] = []
        # Slot entries proposed by an operator's move, by index: (term, future).
        self.slot_proposals: dict[int, tuple[int, asyncio.Future]] = {}
        # Keys of key space 0, (key space id, key) of the others (node/engine/databases.py).
        self.expiry_in_flight: set[bytes | tuple[int, bytes]] = set()
        self.eviction_in_flight: set[bytes | tuple[int, bytes]] = set()
        self.read_counter = 0
        # Committed entries waiting to be applied (apply_pending), the one being applied,
        # and the index of the last one queued.
        self.to_apply: deque[Any] = deque()
        self.applying: tuple[Any, Generator[None, None, None]] | None = None
        self.applying_proposal: Proposal | None = None
        self.queued = applied
        self.entries_since_snapshot = 0
        self.counters = ReplicaCounters()
        self.known_leader = 0  # the leader last named in a Ready (0: none yet)
        # The snapshots this replica took: their sizes and how long each took.
        self.snapshot_bytes = Histogram(SIZE_BUCKETS)
        self.snapshot_seconds = Histogram()
        self.rng = random.Random()
        # The engine settings this leader proposed and when (time.monotonic), until they
        # apply or the leadership ends.
        self.settings_proposed: tuple[dict[str, str], float] | None = None
        self.db_map_proposed: tuple[tuple[int, list[int], int, int], float] | None = None
        # Where this replica publishes its keyspace notifications while it leads (the
        # node's pub/sub hub, node/notifications.py); None: they are dropped.
        self.publish: Publish | None = None

    loop = running_loop
    clock = staticmethod(time.perf_counter)  # what the read slices are timed with

    @property
    def group(self) -> int:
        return self.placement.group

    @property
    def is_leader(self) -> bool:
        return self.raft.role is Role.LEADER

    # ------------------------------------------------------------------ client requests

    def submit(self, request: pb.KvRequest) -> asyncio.Future:
        """Accept a request; the future resolves to its KvReply."""
        future: asyncio.Future = self.loop.create_future()
        self.counters.requests += 1
        if request.kind == pb.DIGESTS or request.read_only:
            if request.consistency == pb.FOLLOWER:
                # Served in the next slice of reads (this frame may hold many of them).
                self.runnable_reads.append(ReadJob(request, future))
                self._resume_reads_soon()
            elif not self.is_leader:
                future.set_result(not_leader_reply(request, self.raft.leader))
            else:
                self.pending_reads.append((request, future))
            return future
        if not self.is_leader:
            future.set_result(not_leader_reply(request, self.raft.leader))
            return future
        self.pending_writes.append(Pending(request, future))
        return future

    def has_work(self) -> bool:
        return bool(self.pending_writes or self.pending_reads)

    def flush(self) -> None:
        """Propose the writes and start the reads that arrived since the last cycle."""
        if self.pending_writes:
            writes, self.pending_writes = self.pending_writes, []
            for batch in _entry_batches(writes):
                self._propose([pending.request for pending in batch], batch)
        if self.pending_reads:
            reads, self.pending_reads = self.pending_reads, []
            if not self.is_leader:
                for request, future in reads:
                    _resolve(future, not_leader_reply(request, self.raft.leader))
                return
            self.read_counter += 1
            context = self.read_counter.to_bytes(8, "big")
            try:
                self.raft.read_index(context)
            except NotLeader as error:
                for request, future in reads:
                    _resolve(future, not_leader_reply(request, error.leader_id))
                return
            self.read_batches[context] = reads
            self.counters.reads += len(reads)

    def _propose(
        self,
        requests: list[pb.KvRequest],
        waiting: list[Pending],
        expire_keys: list[bytes] | None = None,
        evict_keys: list[bytes] | None = None,
        other_spaces: list[tuple[int, list[bytes], list[bytes]]] | None = None,
    ) -> bool:
        entry = entry_codec.ShardEntry(
            time_ms=int(time.time() * 1000),
            seed=self.rng.getrandbits(64),
            requests=[to_entry_request(request) for request in requests],
            expire_keys=expire_keys or [],
            evict_keys=evict_keys or [],
            other_spaces=other_spaces or None,
        )
        try:
            index = self.raft.propose(entry_codec.encode(entry))
        except NotLeader as error:
            self._fail(waiting, error.leader_id)
            return False
        self.proposals[index] = Proposal(self.raft.term, waiting)
        self.counters.proposals += 1
        return True

    def _advance_read(self, job: ReadJob, deadline: float) -> bool:
        """Execute the job's commands in order until all are done (then answer it and
        return True) or `deadline` has passed with some left (False)."""
        request = job.request
        engine = self.state.engine
        # A read may run between two commands of an entry being applied (node/shard_state.py
        # apply_steps): it leaves the database that entry's request selected as it was.
        selected = engine.db
        try:
            return self._run_read(job, deadline, request, engine)
        finally:
            engine.db = selected

    def _run_read(
        self, job: ReadJob, deadline: float, request: pb.KvRequest, engine: Engine
    ) -> bool:
        databases = engine.databases
        if request.db >= DATABASES:
            _resolve(job.future, pb.KvReply(id=request.id, status=pb.REJECTED, error="bad db"))
            return True
        if databases.fenced and databases.is_fenced(request.db):
            # A SWAPDB of this database is in progress: the router asks again.
            count = 1 if request.kind == pb.DIGESTS else len(request.arg_counts)
            _resolve(job.future, pb.KvReply(id=request.id, replies=[MOVING_REPLY] * count))
            return True
        engine.select_for_read(request.db)
        if request.kind == pb.DIGESTS:
            now = max(self.state.clock_ms, int(time.time() * 1000))
            pairs = engine.watch_digests(list(request.args), now)
            _resolve(job.future, pb.KvReply(id=request.id, replies=[d for _, d in pairs]))
            return True
        if job.commands is None:
            job.commands = commands_of(request)
        commands, replies = job.commands, job.replies
        while len(replies) < len(commands):
            if replies and self.clock() >= deadline:
                return False
            args = commands[len(replies)]
            slots = self.state.slots
            if slots.moved and not slots.owns_keys(args):
                replies.append(MOVING_REPLY)  # the router retries it on the new shard
                continue
            now = max(self.state.clock_ms, int(time.time() * 1000))
            engine.scripting.caller = request.caller
            engine.select_for_read(request.db)  # an entry may have applied since the last slice
            reply = engine.execute_readonly(args, now, self.rng)
            if engine.scripting.denials:
                position = len(replies)
                job.denials += [(position, r, obj) for r, obj in engine.scripting.denials]
                engine.scripting.denials = []
            replies.append(resp.encode(reply, request.resp3))
            if engine.read_events:
                self._notify_read(engine)
        answer = pb.KvReply(id=request.id, replies=replies)
        if job.denials:
            answer.script_denials.extend(script_denials(job.denials))
        _resolve(job.future, answer)
        return True

    # ------------------------------------------------------------------ Ready handling

    def on_ready(self, ready: Ready) -> None:
        """After the host sent what `ready` allows (node/raft/ready_policy.py): install its
        snapshot, queue its committed entries for `apply_pending`, take its read states."""
        if ready.snapshot is not None:
            # The log before the snapshot is gone, with whatever of it was still queued.
            self.to_apply.clear()
            self.applying = None
            self.state.restore(ready.snapshot.data)
            self.state.engine.take_events()  # of an entry cut short: never published
            self.applied = self.queued = ready.snapshot.meta.index
            self.entries_since_snapshot = 0
            self.counters.snapshots_installed += 1
            self.log.info("installed snapshot at index %d", self.applied)
        for entry in ready.committed_entries:
            if entry.index > self.queued:
                self.to_apply.append(entry)
                self.queued = entry.index
        for read_state in ready.read_states:
            reads = self.read_batches.pop(read_state.context, None)
            if reads is not None:
                self.reads_waiting_apply.append((read_state.index, reads))
        for context in ready.dropped_reads:
            for request, future in self.read_batches.pop(context, ()):
                _resolve(future, not_leader_reply(request, self.raft.leader))
        self._serve_applied_reads()
        if ready.soft_state is not None and ready.soft_state.role is not Role.LEADER:
            self._lost_leadership(ready.soft_state.leader)

    @property
    def mid_entry(self) -> bool:
        """An entry is half applied: the state is not that of any log index (no snapshot)."""
        return self.applying is not None

    def apply_pending(self, deadline: float) -> bool:
        """Apply queued committed entries until `deadline` (time.perf_counter()), pausing
        between commands (ShardState.apply_steps), and answer the reads that became
        servable. Whether work remains: the host calls again after a turn of the event
        loop, in which ticks, heartbeats and other shards' work run. Raises what a failed
        apply raises (the host fails the replica)."""
        clock = time.perf_counter
        queue = self.to_apply
        progressed = False
        while self.applying is not None or queue:
            if self.applying is None:
                entry = queue.popleft()
                steps = self._start(entry)
                if steps is None:
                    self.applied = entry.index
                    progressed = True
                    continue
                self.applying = (entry, steps)
            entry, steps = self.applying
            try:
                while True:
                    next(steps)
                    if clock() >= deadline:
                        break
            except StopIteration:
                self.applying = None
                self.applied = entry.index
                progressed = True
                if clock() < deadline:
                    continue
            break
        if progressed:
            self._serve_applied_reads()
        return self.applying is not None or bool(queue)

    def note_leader(self, leader: int) -> None:
        """A Ready named `leader` (0: none known): a new one is a leader change."""
        if leader and leader != self.known_leader:
            if self.known_leader:
                self.counters.leader_changes += 1
            self.known_leader = leader

    def _start(self, entry: Any) -> Generator[None, None, None] | None:
        """The steps of applying `entry`, or None when there is nothing to run."""
        self.entries_since_snapshot += 1
        proposal = self.proposals.pop(entry.index, None)
        if proposal is not None and proposal.term != entry.term:
            # Our entry was overwritten by another leader's: the client retries elsewhere.
            self._fail(proposal.waiting, self.raft.leader)
            proposal = None
        if entry.type != EntryType.NORMAL or not entry.data:
            return None
        return self._apply_steps(entry, proposal)

    def _apply_steps(self, entry: Any, proposal: Proposal | None) -> Generator[None, None, None]:
        self.applying_proposal = proposal
        writers = self._writers(proposal)
        outcome = yield from self.state.apply_steps(entry.data, writers)
        self.applying_proposal = None
        self._notify(entry.term)
        if outcome.housekeeping_keys:
            self.expiry_in_flight.difference_update(outcome.housekeeping_keys)
            self.eviction_in_flight.difference_update(outcome.housekeeping_keys)
        if proposal is not None:
            for pending, result in zip(proposal.waiting, outcome.results, strict=True):
                self._deliver(pending, result, entry.index)
        if outcome.slot_result is not None:
            self._slot_entry_applied(entry, outcome.slot_result)
        if outcome.databases_changed:
            self._propose_waiters_again()
        if outcome.changed_keys and self.waiters:
            self._wake_waiters(outcome)
        if outcome.changed_keys and self.on_changed is not None and self.is_leader:
            self._publish_changed(self.on_changed, outcome, writers)

    def _writers(self, proposal: Proposal | None) -> dict[int, int]:
        """The requests of our own proposal sent by a client tracking with NOLOOP (by
        position in the entry) and those clients' ids, when changed keys are published."""
        if proposal is None or self.on_changed is None:
            return {}
        return {
            position: pending.request.writer
            for position, pending in enumerate(proposal.waiting)
            if pending.request.writer
        }

    @staticmethod
    def _publish_changed(
        publish: Callable[[Collection[bytes], int], None],
        outcome: EntryResult,
        writers: dict[int, int],
    ) -> None:
        """The changed keys, those that one NOLOOP client alone changed as its own (it is
        not told of them), every other as nobody's."""
        if not outcome.changed_by:
            publish(outcome.changed_keys, 0)
            return
        shared = set(outcome.shared_keys or ())
        owned: dict[int, set[bytes]] = {}
        for position, keys in outcome.changed_by.items():
            owned.setdefault(writers[position], set()).update(keys)
        writers_of = Counter(key for keys in owned.values() for key in keys)
        for writer, keys in owned.items():
            own = {key for key in keys if writers_of[key] == 1 and key not in shared}
            shared.update(keys - own)
            if own:
                publish(own, writer)
        if shared:
            publish(shared, 0)

    def _notify(self, term: int) -> None:
        """Take the keyspace events of the entry just applied (every replica, so that they
        never pile up) and publish them if this replica leads in the entry's term."""
        engine = self.state.engine
        if not engine.db.events:  # one list for every database's events
            return
        events = engine.take_events()
        if self.publish is not None and self.is_leader and term == self.raft.term:
            publish_events(self.publish, events, self.state.engine.config.notify_keyspace_events)

    def _notify_read(self, engine: Engine) -> None:
        """Publish the events of a read this replica served (outside the log: no other
        replica runs it), leader or not."""
        events, engine.read_events = engine.read_events, []
        if self.publish is not None:
            publish_events(self.publish, events, engine.config.notify_keyspace_events)

    def _deliver(self, pending: Pending, result: RequestResult, index: int) -> None:
        """Answer a request applied by the entry at `index` (which the reply carries: a
        follower whose match index reaches it holds the write, for WAIT)."""
        if pending.future.done():
            return
        if result.blocked is not None:
            self._park(pending, result.blocked)
            return
        reply = pb.KvReply(id=pending.request.id, replies=result.replies, log_index=index)
        if result.denials:
            reply.script_denials.extend(script_denials(result.denials))
        pending.future.set_result(reply)

    def _fail(self, waiting: list[Pending], leader: int) -> None:
        for pending in waiting:
            _resolve(pending.future, not_leader_reply(pending.request, leader))

    def _serve_applied_reads(self) -> None:
        queue = self.reads_waiting_apply
        while queue and queue[0][0] <= self.applied:
            _, reads = queue.popleft()
            self.runnable_reads.extend(ReadJob(request, future) for request, future in reads)
        if not self.reads_resume_scheduled:  # else they go on when that turn comes
            self._serve_reads()

    def _serve_reads(self) -> None:
        """Serve runnable reads, in order, for at most READ_SLICE_S (at least one command);
        what is left goes on in a later loop turn, after the ticks, heartbeats and Raft
        messages that came meanwhile. A read whose read index was confirmed may be served
        after this replica lost its leadership: the state it sees is still a committed
        prefix at least as new as that index, so the read stays linearizable."""
        jobs = self.runnable_reads
        started = self.clock()
        deadline = started + READ_SLICE_S
        while jobs:
            job = jobs[0]
            if job.future.done():  # answered otherwise (a client that went away)
                jobs.popleft()
                continue
            if not self._advance_read(job, deadline):
                break
            jobs.popleft()
            if self.clock() >= deadline:
                break
        if jobs:
            self._resume_reads_soon(min(max(self.clock() - deadline, 0.0), READ_PAUSE_MAX_S))

    def _resume_reads_soon(self, pause: float = 0.0) -> None:
        if not self.reads_resume_scheduled:
            self.reads_resume_scheduled = True
            if pause > 0:
                self.loop.call_later(pause, self._resume_reads)
            else:
                self.loop.call_soon(self._resume_reads)

    def _resume_reads(self) -> None:
        self.reads_resume_scheduled = False
        self._serve_reads()

    def _lost_leadership(self, leader: int) -> None:
        for proposal in self.proposals.values():
            self._fail(proposal.waiting, leader)
        self.proposals.clear()
        self._fail(self.pending_writes, leader)
        self.pending_writes.clear()
        for reads in self.read_batches.values():
            for request, future in reads:
                _resolve(future, not_leader_reply(request, leader))
        self.read_batches.clear()
        while self.reads_waiting_apply:
            for request, future in self.reads_waiting_apply.popleft()[1]:
                _resolve(future, not_leader_reply(request, leader))
        for waiter in self.waiters:
            if waiter.timer is not None:
                waiter.timer.cancel()
            _resolve(waiter.future, not_leader_reply(waiter.request, leader))
        self.waiters.clear()
        self.expiry_in_flight.clear()
        self.eviction_in_flight.clear()
        self.settings_proposed = None
        self.db_map_proposed = None
        for _, future in self.slot_proposals.values():
            if not future.done():
                future.set_exception(NotLeader(leader))
        self.slot_proposals.clear()

    # ------------------------------------------------------------------ blocking commands

    def _park(self, pending: Pending, blocked: WouldBlock) -> None:
        loop = asyncio.get_running_loop()
        waiter = pending.waiter
        if waiter is None:
            deadline = loop.time() + blocked.timeout if blocked.timeout > 0 else None
            waiter = Waiter(pending.request, pending.future, set(blocked.keys), deadline)
        if waiter.deadline is not None:
            waiter.timer = loop.call_at(waiter.deadline, self._time_out, waiter)
        self.waiters.append(waiter)

    def unblock(self, client_id: int, sequence: int, error: bool) -> bool:
        """CLIENT UNBLOCK (node/unblock.py): answer the parked request of (client_id,
        sequence) now, as its timeout would or with Redis's UNBLOCKED error."""
        if not self.is_leader:
            return False
        for waiter in self.waiters:
            request = waiter.request
            if request.client_id == client_id and request.sequence == sequence:
                if waiter.timer is not None:
                    waiter.timer.cancel()
                if not error:
                    self._time_out(waiter)
                    return True
                self.waiters.remove(waiter)
                reply = resp.encode(resp.Error(UNBLOCKED), request.resp3)
                _resolve(waiter.future, pb.KvReply(id=request.id, replies=[reply]))
                return True
        return False

    def _time_out(self, waiter: Waiter) -> None:
        if waiter in self.waiters:
            self.waiters.remove(waiter)
        if not waiter.future.done():
            args = list(waiter.request.args)  # a blocking command travels alone
            reply = resp.encode(timeout_reply(args), waiter.request.resp3)
            waiter.future.set_result(pb.KvReply(id=waiter.request.id, replies=[reply]))

    def _wake_waiters(self, outcome: EntryResult) -> None:
        """Waiters whose keys changed (and hold the type they pop from: may_serve) are
        proposed again, oldest first (Redis serves blocked clients in arrival order); the
        retry carries the same client id and sequence. If
        the data is gone again by then, the retry parks again with its first deadline."""
        changed = outcome.changed_keys
        databases = self.state.engine.databases
        woken = [
            waiter
            for waiter in self.waiters
            if waiter.keys & changed
            and may_serve(
                databases.readable(waiter.request.db), list(waiter.request.args), waiter.keys
            )
        ]
        if not woken:
            return
        served = {id(waiter) for waiter in woken}
        self.waiters = [waiter for waiter in self.waiters if id(waiter) not in served]
        self._propose_again(woken)

    # ------------------------------------------------------------------ slot moves

    def propose_slot_entry(self, data: bytes) -> asyncio.Future:
        """As the leader, propose a slot entry (node/slot_entries.py); the future gives
        its SlotResult once it applied here, or NotLeader."""
        future: asyncio.Future = self.loop.create_future()
        try:
            index = self.raft.propose(data)
        except NotLeader as error:
            future.set_exception(error)
            return future
        self.slot_proposals[index] = (self.raft.term, future)
        return future

    def _slot_entry_applied(self, entry: Any, result: SlotResult) -> None:
        proposed = self.slot_proposals.pop(entry.index, None)
        if proposed is not None and not proposed[1].done():
            if proposed[0] == entry.term:
                proposed[1].set_result(result)
            else:
                proposed[1].set_exception(NotLeader(self.raft.leader))
        if result.fenced:
            # Every waiter is proposed again: those on the fenced range get SLOT_MOVING and
            # their router blocks them again on the new shard; the others park again.
            self._propose_waiters_again()

    def _propose_waiters_again(self) -> None:
        """Every parked request is proposed again (a slot fence, a database swap's step):
        those that may no longer run here get SLOT_MOVING, the others park again."""
        waiters, self.waiters = self.waiters, []
        self._propose_again(waiters)

    def _propose_again(self, waiters: list[Waiter]) -> None:
        """Parked requests, taken out of `waiters`, go to the next proposal (same client
        id and sequence); a timed-out or answered one is left alone."""
        for waiter in waiters:
            if waiter.timer is not None:
                waiter.timer.cancel()
                waiter.timer = None
            if not waiter.future.done():
                self.pending_writes.append(Pending(waiter.request, waiter.future, waiter))

    # ------------------------------------------------------------------ housekeeping

    def propose_expiry(self, limit: int = 256) -> int:
        if not self.is_leader:
            return 0
        now = int(time.time() * 1000)
        in_flight = self.expiry_in_flight
        found = self.state.engine.expired_by_space(now, limit + len(in_flight))
        candidates = [key for key in found.pop(0, ()) if key not in in_flight][:limit]
        # The other key spaces' (node/engine/databases.py), in flight as (space id, key).
        others: list[tuple[int, list[bytes], list[bytes]]] = []
        for space_id, keys in found.items():
            fresh = [key for key in keys if (space_id, key) not in in_flight][:limit]
            if fresh:
                others.append((space_id, fresh, []))
        if not candidates and not others:
            return 0
        if self._propose([], [], expire_keys=candidates, other_spaces=others):
            in_flight.update(candidates)
            for space_id, keys, _ in others:
                in_flight.update([(space_id, key) for key in keys])
        return len(candidates) + sum(len(keys) for _, keys, _ in others)

    def _propose_control(self, **fields: Any) -> int | None:
        """As the leader, propose an entry that carries no client request (settings, a
        database map): its log index, or None when this replica does not lead."""
        entry = entry_codec.ShardEntry(
            time_ms=int(time.time() * 1000),
            seed=self.rng.getrandbits(64),
            requests=[],
            expire_keys=[],
            evict_keys=[],
            **fields,
        )
        try:
            index = self.raft.propose(entry_codec.encode(entry))
        except NotLeader:
            return None
        self.proposals[index] = Proposal(self.raft.term, [])
        return index

    def propose_settings(self, desired: dict[str, str], retry_after: float = 5.0) -> bool:
        """As the leader, propose a settings entry when the shard's replicated engine
        settings are not `desired` (the metadata group's): every replica adopts them when
        the entry applies, at the same point of the shard's log. Whether one was proposed."""
        if not self.is_leader or self.state.settings == desired:
            self.settings_proposed = None
            return False
        now = time.monotonic()
        proposed = self.settings_proposed
        if proposed is not None and proposed[0] == desired and now - proposed[1] < retry_after:
            return False
        index = self._propose_control(
            settings=[
                (name.encode("latin-1"), value.encode("latin-1"))
                for name, value in sorted(desired.items())
            ]
        )
        if index is None:
            return False
        self.settings_proposed = (dict(desired), now)
        self.log.info("proposed engine settings %s at index %d", desired, index)
        return True

    def propose_db_map(
        self, desired: tuple[int, list[int], int, int], retry_after: float = 1.0
    ) -> bool:
        """As the leader, propose a database map entry when the shard does not hold the
        metadata group's map and fence (node/db_swaps.py). Whether one was proposed."""
        epoch, mapping, fence_epoch, fenced = desired
        databases = self.state.engine.databases
        held = (databases.map_epoch, databases.fence_epoch, databases.fenced)
        wanted_fence = (fence_epoch, fenced) if fence_epoch > epoch else (0, 0)
        if not self.is_leader or epoch < databases.map_epoch or held == (epoch, *wanted_fence):
            return False
        now = time.monotonic()
        proposed = self.db_map_proposed
        if proposed is not None and proposed[0] == desired and now - proposed[1] < retry_after:
            return False
        index = self._propose_control(
            db_map=entry_codec.DbMapStep(epoch, list(mapping), fence_epoch, fenced)
        )
        if index is None:
            return False
        self.db_map_proposed = (desired, now)
        self.log.info(
            "proposed database map %d (fence %d: %#x) at index %d",
            epoch,
            fence_epoch,
            fenced,
            index,
        )
        return True

    def propose_eviction(self, limit: int = 64) -> int:
        engine = self.state.engine
        config = engine.config
        if not self.is_leader or not config.maxmemory or config.maxmemory_policy == "noeviction":
            return 0
        if engine.used_memory() <= config.maxmemory:
            return 0
        space_id, keys = engine.eviction_candidates_by_space(limit)
        in_flight = self.eviction_in_flight
        if space_id:
            fresh = [key for key in keys if (space_id, key) not in in_flight]
            if not fresh:
                return 0
            if self._propose([], [], other_spaces=[(space_id, [], fresh)]):
                in_flight.update((space_id, key) for key in fresh)
            return len(fresh)
        candidates = [key for key in keys if key not in in_flight]
        if not candidates:
            return 0
        if self._propose([], [], evict_keys=candidates):
            self.eviction_in_flight.update(candidates)
        return len(candidates)


def _entry_batches(writes: list[Pending]) -> list[list[Pending]]:
    """The writes of one cycle, cut into log entries of about MAX_ENTRY_BYTES (at least one
    request each): every replica decodes, writes and applies an entry in one piece."""
    if len(writes) == 1:
        return [writes]
    batches: list[list[Pending]] = []
    current: list[Pending] = []
    size = 0
    for pending in writes:
        request_size = pending.request.ByteSize()
        if current and size + request_size > MAX_ENTRY_BYTES:
            batches.append(current)
            current, size = [], 0
        current.append(pending)
        size += request_size
    batches.append(current)
    return batches


def _resolve(future: asyncio.Future, reply: pb.KvReply) -> None:
    if not future.done():
        future.set_result(reply)

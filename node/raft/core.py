"""One replica of one Raft group: a state machine stepped by calls (no I/O, no clock).

The structure follows etcd-io/raft: `step` handles a message's term first, then hands it
to the function of the replica's role; `tick` drives elections, heartbeats and the
check-quorum; the leader tracks each follower in a `Progress`. What is to be persisted,
sent and applied accumulates until the caller takes it with `ready()` (see `Ready`).

Leader sends are lazy: proposals, acknowledgements and read requests only mark what has to
go out, and `ready()` turns that into as few AppendEntries/heartbeats as possible, so a
burst of proposals between two readies travels in one message per follower.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence

from node.raft import confchange
from node.raft.confchange import ConfChange, ConfChangeType, InvalidConfChange
from node.raft.config import RaftConfig
from node.raft.errors import ConfChangeRejected, LeaderTransferInProgress, NotLeader, RaftError
from node.raft.log import RaftLog, make_entry
from node.raft.membership import MembershipLog
from node.raft.messages import (
    AppendEntries,
    AppendResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    Message,
    RequestVote,
    SnapshotResponse,
    TimeoutNow,
    VoteResponse,
)
from node.raft.progress import PROBE, REPLICATE, SNAPSHOT, Progress
from node.raft.quorum import VoteResult, quorum_value, vote_result
from node.raft.readonly import PendingReads, ReadState, stamp_at_tick, tick_of
from node.raft.ready import PeerStatus, Ready, Role, SoftState, Status
from node.raft.snapshot import SnapshotAssembly, next_chunks
from node.raft.types import (
    ConfState,
    Entry,
    EntryType,
    HardState,
    RestoredState,
    Snapshot,
    SnapshotMeta,
)
from node.raft.validate import MAX_TERM

FOLLOWER = Role.FOLLOWER
PRE_CANDIDATE = Role.PRE_CANDIDATE
CANDIDATE = Role.CANDIDATE
LEADER = Role.LEADER
_NORMAL = EntryType.NORMAL
_CONF_CHANGE = EntryType.CONF_CHANGE
_FROM_LEADER = (AppendEntries, Heartbeat, InstallSnapshot)
_NO_ENTRIES: list[Entry] = []


class VoteHold(enum.Enum):
    """Whether a replica may vote, campaign and take leadership (`RaftNode.hold_votes`).

    Raft's safety rests on what a replica persisted: the vote it gave in its term, and the
    entries it acknowledged (counted towards commits). A replica whose disk was lost and
    that starts again under the same id has neither, so it could vote twice in a term, or
    help elect a leader that lacks an entry committed with its own lost acknowledgement."""

    NONE = 0
    # A new data directory that may be a lost one: the caller releases it once it knows.
    UNTIL_RELEASED = 1
    # A replica that lost its data: held until a leader releases it (`release_hold`), once
    # the replica's log holds that leader's commit index and the leader reached that index
    # in its own term without the replica. That commit needed a majority of the others,
    # which intersects every majority the replica took part in before its loss: so the
    # leader's term is at least any term the replica acknowledged or voted in, and its log
    # holds every entry committed before (Leader Completeness).
    UNTIL_CAUGHT_UP = 2


class RaftNode:
    """One replica. See `node.raft` for the calling protocol."""

    def __init__(
        self,
        config: RaftConfig,
        restored: RestoredState | None = None,
        rng: random.Random | None = None,
    ) -> None:
        restored = restored or RestoredState()
        self.config = config
        self.id = config.node_id
        self.group = config.group_id
        self._rng = rng or random.Random(config.node_id * 1_000_003 + config.group_id)
        self._election_ticks = config.election_ticks
        self._lease_ticks = config.lease_ticks
        self._max_entries = config.max_append_entries
        self._max_bytes = config.max_append_bytes

        hard = restored.hard_state
        snapshot = restored.snapshot
        if snapshot is not None:
            offset, offset_term, base_conf = (
                snapshot.meta.index,
                snapshot.meta.term,
                snapshot.meta.conf,
            )
        else:
            offset, offset_term, base_conf = 0, 0, ConfState()
        self.log = RaftLog(offset, offset_term, restored.entries, hard.commit)
        self.term = hard.term
        self.vote = hard.vote
        self.leader = 0
        # The leader of `term` once known (kept while campaigning in the same term, unlike
        # `leader`): nobody else may act as leader in this term (node.raft.validate).
        self.term_leader = 0
        self.role = FOLLOWER
        self._snapshot = snapshot  # the latest local snapshot: what lagging followers get

        self.conf = base_conf
        self._voters: tuple[int, ...] = base_conf.voters
        self.membership = MembershipLog(offset, base_conf)
        self._progress: dict[int, Progress] = {}
        self.membership.append(self.log.entries, offset + 1)
        self._set_conf(self.membership.current)

        self._votes: dict[int, bool] = {}
        self._msgs: list[Message] = []
        self._read_states: list[ReadState] = []
        self._dropped_reads: list[bytes] = []
        self._reads = PendingReads()
        self._reads_waiting: list[bytes] = []  # until the leader commits in its term

        self._ticks = 1
        self._stamp = stamp_at_tick(1)
        self._elapsed = 0  # ticks since the election timer or the quorum check was reset
        self._heartbeat_elapsed = 0
        # Ticks since this replica last heard from a leader, or since it started: it grants
        # no vote before election_ticks (leader lease, see node.raft.readonly).
        self._guard_elapsed = 0
        self._timeout = self._random_timeout()

        self._transferee = 0
        # Leader: TimeoutNow went to the transferee; heartbeats tell the other voters, which
        # then honour its forced campaign. Follower: the term whose leader told us so.
        self._transfer_announced = False
        self._transfer_term = -1
        self._lease_tainted = False
        self._pending_conf_index = 0
        self._needs_flush = False
        self._commit_due = False  # a tick passed: commit-only appends may go (eager_commit off)
        self._read_round = False
        self._pending_snapshot: Snapshot | None = None
        self._assembly = SnapshotAssembly()

        self.vote_hold = VoteHold.NONE

        self._outstanding: Ready | None = None
        self._last_term = self.term
        self._last_vote = self.vote
        self._last_commit = hard.commit
        self._last_leader = 0
        self._last_role = FOLLOWER

    # -- status ----------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self.role is LEADER

    @property
    def snapshot(self) -> Snapshot | None:
        """The latest snapshot this replica holds (from `compact`, storage, or its leader)."""
        return self._snapshot

    def status(self) -> Status:
        peers = {
            peer: PeerStatus(pr.match, pr.next, pr.state.name.lower(), pr.is_learner, pr.rejoining)
            for peer, pr in self._progress.items()
        }
        log = self.log
        return Status(
            node_id=self.id,
            group_id=self.group,
            role=self.role,
            term=self.term,
            vote=self.vote,
            leader=self.leader,
            commit=log.committed,
            applied=log.applied,
            last_index=log.last_index(),
            first_index=log.first_index(),
            conf=self.conf,
            peers=peers,
        )

    # -- inputs from the caller ------------------------------------------------------------

    def tick(self) -> None:
        self._ticks += 1
        if self.role is LEADER:
            self._tick_leader()
        else:
            self._tick_election()

    def hold_votes(self, hold: VoteHold) -> None:
        """Neither vote, campaign nor lead until released, and answer leaders with
        `rejoining` (they count such answers towards nothing); see VoteHold. `UNTIL_CAUGHT_UP`
        is released by a leader, `UNTIL_RELEASED` by the caller (`hold_votes(NONE)`)."""
        self.vote_hold = hold
        if hold is not VoteHold.NONE and self.role is not FOLLOWER:
            self._become_follower(self.term, 0)

    @property
    def holds_votes(self) -> bool:
        """Our answers to a leader say so (`rejoining`): count them towards nothing."""
        return self.vote_hold is not VoteHold.NONE

    @property
    def follows_live_leader(self) -> bool:
        """Whether we lead or heard from a leader within an election timeout (since we
        started, counting the start as news)."""
        return self.role is LEADER or self._guard_elapsed < self._election_ticks

    @property
    def stamp(self) -> int:
        """The leader's latest send stamp: no follower can echo a higher one in this term."""
        return self._stamp

    def propose(self, data: bytes) -> int:
        """Append `data` as a new entry; returns its index (it is committed once a Ready hands
        it out in committed_entries with the same index and this term)."""
        if self.role is not LEADER:
            raise NotLeader(self.leader)
        if self._transferee:
            raise LeaderTransferInProgress(self._transferee)
        log = self.log
        index = log.offset + len(log.entries) + 1
        log.entries.append(make_entry(index, self.term, _NORMAL, data))
        self._needs_flush = True
        return index

    def propose_conf_change(self, change: ConfChange) -> int:
        """Append a membership change; it takes effect at once (see node.raft.confchange).
        Returns its index. Raises ConfChangeRejected when it cannot be proposed now."""
        if self.role is not LEADER:
            raise NotLeader(self.leader)
        if self._transferee:
            raise LeaderTransferInProgress(self._transferee)
        log = self.log
        if log.term(log.committed) != self.term:
            raise ConfChangeRejected("the leader has not committed an entry in its term yet")
        if self._pending_conf_index > log.committed:
            raise ConfChangeRejected("another membership change is not committed yet")
        try:
            confchange.check(self.conf, change)
        except InvalidConfChange as error:
            raise ConfChangeRejected(str(error)) from None
        if change.type is ConfChangeType.PROMOTE_LEARNER:
            pr = self._progress.get(change.node_id)
            if pr is None or pr.match < log.committed:
                raise ConfChangeRejected(f"learner {change.node_id} has not caught up yet")
        index = log.last_index() + 1
        entry = Entry(index, self.term, _CONF_CHANGE, confchange.encode(change))
        log.append(entry)
        self._pending_conf_index = index
        self.membership.append((entry,), index)
        self._set_conf(self.membership.current)
        self._needs_flush = True
        return index

    def read_index(self, context: bytes) -> None:
        """Start a linearizable read; a later Ready carries ReadState(context, index) (or
        lists `context` in dropped_reads if leadership is lost first)."""
        if self.role is not LEADER:
            raise NotLeader(self.leader)
        log = self.log
        if log.term(log.committed) != self.term:
            self._reads_waiting.append(context)
            return
        self._start_read(context)

    def transfer_leader(self, target: int) -> None:
        """Hand leadership to voter `target` once it has caught up (TimeoutNow). Proposals
        are refused until it succeeds or an election timeout passes."""
        if self.role is not LEADER:
            raise NotLeader(self.leader)
        if target == self.id:
            self._end_transfer()
            return
        if target not in self._voters:
            raise RaftError(f"node {target} is not a voter of group {self.group}")
        if self._progress[target].rejoining:
            return  # it may not lead before it is released (VoteHold); later
        if self._transferee == target:
            return
        self._end_transfer()
        self._transferee = target
        self._elapsed = 0
        # The target's forced campaign ignores leases: ours is void for the rest of the term.
        self._lease_tainted = True
        if self._progress[target].match == self.log.last_index():
            self._send_timeout_now(target)
        else:
            self._needs_flush = True

    def _send_timeout_now(self, target: int) -> None:
        """Tell the other voters first (their heartbeat goes out before the TimeoutNow), so
        that they honour the target's forced campaign over our lease; see
        `_forced_by_transfer`."""
        self._transfer_announced = True
        for peer, pr in self._progress.items():
            if peer != target and not pr.is_learner:
                self._send_heartbeat(peer, pr)
        self._send(TimeoutNow(self.group, self.id, target, self.term))

    def _end_transfer(self) -> None:
        self._transferee = 0
        self._transfer_announced = False

    def compact(self, index: int, data: bytes) -> SnapshotMeta | None:
        """The application took a snapshot (`data`) of its state at applied index `index`.
        It becomes what lagging followers are sent; the log before `index -
        config.compaction_lag` is forgotten. Returns the snapshot's meta (with the
        membership at `index`) for storage, or None if this replica already holds a snapshot
        at `index` or later (e.g. one from the leader not yet handed out): nothing to save."""
        log = self.log
        current = self._snapshot
        if current is not None and index <= current.meta.index:
            return None
        if index > log.applied or index < log.offset:
            raise ValueError(
                f"cannot snapshot at {index}: applied {log.applied}, first {log.offset}"
            )
        term = log.term(index)
        assert term is not None
        meta = SnapshotMeta(index, term, self.membership.at(index))
        self._snapshot = Snapshot(meta, data)
        keep_from = min(index - self.config.compaction_lag, log.stable)
        if keep_from > log.offset:
            log.compact(keep_from)
            self.membership.compact(keep_from)
        return meta

    def report_unreachable(self, peer: int) -> None:
        """The transport failed to deliver to `peer`: stop streaming to it and probe."""
        pr = self._progress.get(peer) if self.role is LEADER else None
        if pr is not None and pr.state is REPLICATE:
            pr.become_probe()
            self._needs_flush = True

    def report_snapshot(self, peer: int, ok: bool) -> None:
        """The transport reports the outcome of sending a snapshot to `peer`."""
        pr = self._progress.get(peer) if self.role is LEADER else None
        if pr is None or pr.state is not SNAPSHOT:
            return
        if not ok:
            pr.snap_index = 0
        pr.become_probe()
        self._needs_flush = True

    # -- output ----------------------------------------------------------------------------

    def has_ready(self) -> bool:
        if self._outstanding is not None:
            return False
        log = self.log
        return bool(
            self._msgs
            or self._needs_flush
            or self._read_round
            or self._read_states
            or self._dropped_reads
            or self._pending_snapshot is not None
            or log.unstable_from <= log.offset + len(log.entries)
            or log.committed > log.applied
            or self.term != self._last_term
            or self.vote != self._last_vote
            or log.committed != self._last_commit
            or self.leader != self._last_leader
            or self.role is not self._last_role
        )

    def ready(self) -> Ready:
        if self._outstanding is not None:
            raise RaftError("advance() the previous Ready first")
        if self.role is LEADER:
            self._flush()
        else:
            self._needs_flush = False
            self._read_round = False
        ready = Ready()
        log = self.log
        term = self.term
        vote = self.vote
        committed = log.committed
        if term != self._last_term or vote != self._last_vote or committed != self._last_commit:
            ready.hard_state = HardState(term, vote, committed)
            self._last_term = term
            self._last_vote = vote
            self._last_commit = committed
        if self._pending_snapshot is not None:
            ready.snapshot = self._pending_snapshot
            self._pending_snapshot = None
        offset = log.offset
        entries = log.entries
        last = offset + len(entries)
        if log.unstable_from <= last:
            ready.entries = entries[log.unstable_from - offset - 1 :]
            log.unstable_from = last + 1
        if log.truncate_from is not None:
            ready.truncate_from = log.truncate_from
            log.truncate_from = None
        log.persist_limit = last
        first = (log.applied if log.applied > offset else offset) + 1
        if committed >= first:
            ready.committed_entries = entries[first - offset - 1 : committed - offset]
        if self._read_states:
            ready.read_states = self._read_states
            self._read_states = []
        if self._msgs:
            ready.messages = self._msgs
            self._msgs = []
        if self._dropped_reads:
            ready.dropped_reads = self._dropped_reads
            self._dropped_reads = []
        if self.leader != self._last_leader or self.role is not self._last_role:
            ready.soft_state = SoftState(self.leader, self.role)
            self._last_leader = self.leader
            self._last_role = self.role
        self._outstanding = ready
        return ready

    def advance(self, ready: Ready) -> None:
        """The caller persisted `ready` (and sent its messages, applied its entries)."""
        if ready is not self._outstanding:
            raise RaftError("advance() takes the Ready last returned by ready()")
        self._outstanding = None
        log = self.log
        if ready.snapshot is not None:
            log.applied = max(log.applied, ready.snapshot.meta.index)
        if ready.committed_entries:
            log.applied = max(log.applied, ready.committed_entries[-1].index)
        if ready.entries:
            stable = min(ready.entries[-1].index, log.persist_limit)
            if stable > log.stable:
                log.stable = stable
                if self.role is LEADER and self._maybe_commit() and self.role is LEADER:
                    self._needs_flush = True

    # -- ticks -----------------------------------------------------------------------------

    def _random_timeout(self) -> int:
        return self._election_ticks + self._rng.randrange(self._election_ticks)

    def _tick_election(self) -> None:
        self._guard_elapsed += 1
        self._elapsed += 1
        if self._elapsed >= self._timeout:
            self._elapsed = 0
            if self._may_campaign() and self.vote_hold is VoteHold.NONE:
                if self.config.pre_vote:
                    self._campaign_pre()
                else:
                    self._campaign(force=False)

    def _may_campaign(self) -> bool:
        """A voter of its latest membership may campaign; so may a voter of the committed
        membership that a later, uncommitted change removed (it counts the votes of the
        latest membership, and leads only until that change commits: _on_commit). Without
        it, a replica that alone holds the change removing it could be the only one others
        would elect, and never stand (found by the simulation: seed 17864)."""
        if self.id in self._voters:
            return True
        membership = self.membership
        committed = self.log.committed
        return membership.last_change_index > committed and self.id in membership.voters_at(
            committed
        )

    def _tick_leader(self) -> None:
        stamp = stamp_at_tick(self._ticks)
        if stamp > self._stamp:
            self._stamp = stamp
        self._heartbeat_elapsed += 1
        self._elapsed += 1
        if self._elapsed >= self._election_ticks:
            self._elapsed = 0
            if self.config.check_quorum and not self._quorum_active():
                self._become_follower(self.term, 0)
                return
            self._end_transfer()
        if self._heartbeat_elapsed >= self.config.heartbeat_ticks:
            self._heartbeat_elapsed = 0
            for peer, pr in self._progress.items():
                self._send_heartbeat(peer, pr)
            self._commit_for_rejoiners()
        committed = self.log.committed
        if any(
            pr.sent_commit < committed and pr.state is REPLICATE for pr in self._progress.values()
        ):
            # No append with entries took the new commit index to these followers this tick
            # (a probing follower hears it once it answers a probe).
            self._commit_due = True
            self._needs_flush = True

    def _commit_for_rejoiners(self) -> None:
        """An idle group commits nothing new, and a rejoining follower is released only by a
        commit made without it (`_release_due`): give it one, an empty entry."""
        log = self.log
        committed = log.committed
        if self._transferee or log.last_index() != committed:
            return  # something is being committed already
        if any(
            pr.rejoining and pr.match >= committed and committed <= pr.rejoin_floor
            for pr in self._progress.values()
        ):
            log.append(Entry(committed + 1, self.term, _NORMAL, b""))
            self._needs_flush = True

    def _quorum_active(self) -> bool:
        active = 0
        for voter in self._voters:
            if voter == self.id:
                active += 1
                continue
            pr = self._progress[voter]
            if pr.recent_active:
                active += 1
        for pr in self._progress.values():
            pr.recent_active = False
        return active >= len(self._voters) // 2 + 1

    # -- role changes ----------------------------------------------------------------------

    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term = term
            self.vote = 0
            self.term_leader = 0
        self.leader = 0
        self._elapsed = 0
        self._heartbeat_elapsed = 0
        self._timeout = self._random_timeout()
        self._votes = {}
        self._end_transfer()
        self._lease_tainted = False
        self._needs_flush = False
        self._read_round = False
        if self._progress:
            self._progress = {}
        if len(self._reads) or self._reads_waiting:
            self._dropped_reads.extend(self._reads.drop_all())
            self._dropped_reads.extend(self._reads_waiting)
            self._reads_waiting = []

    def _become_follower(self, term: int, leader: int) -> None:
        self._reset(term)
        self.role = FOLLOWER
        self.leader = leader
        if leader:
            self.term_leader = leader

    def _become_leader(self) -> None:
        self._reset(self.term)
        self.role = LEADER
        self.leader = self.term_leader = self.id
        stamp = stamp_at_tick(self._ticks)
        if stamp > self._stamp:
            self._stamp = stamp
        self._sync_progress()
        log = self.log
        index = log.last_index() + 1
        log.append(Entry(index, self.term, _NORMAL, b""))
        # No membership change before this no-op commits: the previous leader's last change
        # may still be uncommitted (the dissertation's single-server-change fix).
        self._pending_conf_index = index
        self._needs_flush = True

    def _campaign_pre(self) -> None:
        if self.term >= MAX_TERM:
            return  # refused by every peer (node.raft.validate): campaigning cannot help
        self.role = PRE_CANDIDATE
        self.leader = 0
        self._timeout = self._random_timeout()
        self._votes = {self.id: True}
        if vote_result(self._voters, self._votes) is VoteResult.WON:
            self._campaign(force=False)
            return
        self._request_votes(self.term + 1, pre=True, force=False)

    def _campaign(self, force: bool) -> None:
        if self.term >= MAX_TERM:
            return
        self._reset(self.term + 1)
        self.role = CANDIDATE
        self.vote = self.id
        self._votes = {self.id: True}
        if vote_result(self._voters, self._votes) is VoteResult.WON:
            self._become_leader()
            return
        self._request_votes(self.term, pre=False, force=force)

    def _request_votes(self, term: int, pre: bool, force: bool) -> None:
        log = self.log
        last_index = log.last_index()
        last_term = log.last_term()
        for voter in self._voters:
            if voter != self.id:
                self._send(
                    RequestVote(self.group, self.id, voter, term, last_index, last_term, pre, force)
                )

    # -- messages --------------------------------------------------------------------------

    def _send(self, message: Message) -> None:
        self._msgs.append(message)

    def step(self, message: Message) -> None:
        if message.group != self.group or message.dst != self.id:
            raise RaftError(
                f"message for {message.group}/{message.dst} stepped into {self.group}/{self.id}"
            )
        term = message.term
        if term > self.term:
            if isinstance(message, RequestVote):
                if self._in_lease() and not self._forced_by_transfer(message):
                    return
                if not message.pre:
                    self._become_follower(term, 0)
            elif not (isinstance(message, VoteResponse) and message.pre and message.granted):
                self._become_follower(term, message.src if isinstance(message, _FROM_LEADER) else 0)
        elif term < self.term:
            if isinstance(message, _FROM_LEADER) and (
                self.config.pre_vote or self.config.guards_lease
            ):
                # A stale leader (or one cut off while we moved on) learns our term and steps
                # down. Needed when votes can be ignored (pre-vote, leases): otherwise a node
                # whose term ran ahead could never rejoin.
                self._send(AppendResponse(self.group, self.id, message.src, self.term, 0))
            elif isinstance(message, RequestVote) and message.pre:
                self._send(VoteResponse(self.group, self.id, message.src, self.term, False, True))
            return

        if isinstance(message, RequestVote):
            self._handle_vote_request(message)
        elif self.role is LEADER:
            self._step_leader(message)
        elif self.role is FOLLOWER:
            self._step_follower(message)
        else:
            self._step_candidate(message)

    def _in_lease(self) -> bool:
        if not self.config.guards_lease:
            return False
        return self.follows_live_leader

    def _forced_by_transfer(self, message: RequestVote) -> bool:
        """Whether a forced campaign may override the lease: only the campaign a leader
        transfer started (TimeoutNow, which only our leader sends), for the term right after
        our leader's. The leader knows its transferee; a follower honours it once the leader
        announced the transfer (`_send_timeout_now`), so a voter cannot force elections on
        its own (etcd trusts the flag; here any peer could set it)."""
        if not message.force or message.term != self.term + 1:
            return False
        if self.role is LEADER:
            return message.src == self._transferee
        return self._transfer_term == self.term

    def _handle_vote_request(self, message: RequestVote) -> None:
        can_vote = self.vote_hold is VoteHold.NONE and (
            self.vote == message.src
            or (self.vote == 0 and self.leader == 0)
            or (message.pre and message.term > self.term)
        )
        if can_vote and self.log.is_up_to_date(message.last_index, message.last_term):
            self._send(
                VoteResponse(self.group, self.id, message.src, message.term, True, message.pre)
            )
            if not message.pre:
                self._elapsed = 0
                self.vote = message.src
        else:
            self._send(
                VoteResponse(self.group, self.id, message.src, self.term, False, message.pre)
            )

    def _step_follower(self, message: Message) -> None:
        if isinstance(message, AppendEntries):
            self._heard_from_leader(message.src)
            self._handle_append(message)
            if message.release_hold and self.vote_hold is VoteHold.UNTIL_CAUGHT_UP:
                self.vote_hold = VoteHold.NONE
        elif isinstance(message, Heartbeat):
            self._heard_from_leader(message.src)
            self.log.commit_to(message.commit)
            if message.transfer:
                self._transfer_term = self.term
            self._send(
                HeartbeatResponse(
                    self.group,
                    self.id,
                    message.src,
                    self.term,
                    message.stamp,
                    self.holds_votes,
                )
            )
            if message.release_hold and self.vote_hold is VoteHold.UNTIL_CAUGHT_UP:
                self.vote_hold = VoteHold.NONE
        elif isinstance(message, InstallSnapshot):
            self._heard_from_leader(message.src)
            self._handle_snapshot_chunk(message)
        elif (
            isinstance(message, TimeoutNow)
            and message.src == self.term_leader
            and self._may_campaign()
            and self.vote_hold is VoteHold.NONE
        ):
            self._campaign(force=True)

    def _step_candidate(self, message: Message) -> None:
        if isinstance(message, _FROM_LEADER):
            self._become_follower(message.term, message.src)
            self._step_follower(message)
        elif isinstance(message, VoteResponse):
            if message.pre != (self.role is PRE_CANDIDATE):
                return
            self._votes.setdefault(message.src, message.granted)
            result = vote_result(self._voters, self._votes)
            if result is VoteResult.WON:
                if self.role is PRE_CANDIDATE:
                    self._campaign(force=False)
                else:
                    self._become_leader()
            elif result is VoteResult.LOST:
                self._become_follower(self.term, 0)

    def _heard_from_leader(self, leader: int) -> None:
        self._elapsed = 0
        self._guard_elapsed = 0
        self.leader = self.term_leader = leader

    # -- follower: appends and snapshots ---------------------------------------------------

    def _handle_append(self, message: AppendEntries) -> None:
        log = self.log
        prev = message.prev_index
        prev_term = message.prev_term
        entries = message.entries
        committed = log.committed
        if prev < committed:
            # Everything up to our commit index is known to match the leader's log.
            skip = committed - prev
            if skip >= len(entries):
                self._accept_append(message.src, committed, message.stamp)
                return
            entries = entries[skip:]
            prev = committed
        elif log.term(prev) != prev_term:
            hint_index, hint_term = log.find_conflict_by_term(
                min(prev, log.last_index()), prev_term
            )
            self._send(
                AppendResponse(
                    self.group,
                    self.id,
                    message.src,
                    self.term,
                    prev,
                    True,
                    hint_index,
                    hint_term,
                    message.stamp,
                    self.holds_votes,
                )
            )
            return
        old_last = log.last_index()
        last_new, truncated_at = log.append_after(prev, entries)
        if truncated_at is not None:
            membership = self.membership
            changed = membership.truncate(truncated_at)
            if membership.append(entries, truncated_at) or changed:
                self._set_conf(membership.current)
        elif last_new > old_last and self.membership.append(entries, old_last + 1):
            self._set_conf(self.membership.current)
        log.commit_to(min(message.commit, last_new))
        self._accept_append(message.src, last_new, message.stamp)

    def _accept_append(self, leader: int, index: int, stamp: int) -> None:
        """Tell the leader that our log matches its own up to `index`."""
        self._send(
            AppendResponse(
                self.group,
                self.id,
                leader,
                self.term,
                index,
                stamp=stamp,
                rejoining=self.holds_votes,
            )
        )

    def _handle_snapshot_chunk(self, message: InstallSnapshot) -> None:
        meta = message.meta
        log = self.log
        if meta.index <= log.committed:
            self._assembly.clear()
            self._accept_append(message.src, log.committed, message.stamp)
            return
        snapshot, next_offset, reject = self._assembly.receive(message)
        if snapshot is None:
            self._answer_chunk(message, next_offset, reject)
            return
        self._restore(snapshot)
        self._accept_append(message.src, meta.index, message.stamp)

    def _answer_chunk(self, message: InstallSnapshot, next_offset: int, reject: bool) -> None:
        self._send(
            SnapshotResponse(
                self.group,
                self.id,
                message.src,
                self.term,
                message.meta.index,
                next_offset,
                reject,
                message.stamp,
                self.holds_votes,
            )
        )

    def _restore(self, snapshot: Snapshot) -> None:
        meta = snapshot.meta
        log = self.log
        if log.match_term(meta.index, meta.term):
            # We have the entries already: the snapshot only tells us they are committed.
            log.commit_to(meta.index)
            return
        log.restore(meta.index, meta.term)
        self._pending_snapshot = snapshot
        self._snapshot = snapshot
        self.membership.reset(meta.index, meta.conf)
        self._set_conf(meta.conf)

    # -- leader ----------------------------------------------------------------------------

    def _step_leader(self, message: Message) -> None:
        pr = self._progress.get(message.src)
        if pr is None:
            return
        if isinstance(message, AppendResponse):
            self._handle_append_response(message, pr)
        elif isinstance(message, HeartbeatResponse):
            self._handle_heartbeat_response(message, pr)
        elif isinstance(message, SnapshotResponse):
            self._handle_snapshot_response(message, pr)

    def _note_rejoining(self, pr: Progress, rejoining: bool) -> None:
        """A follower's answer says whether it holds its votes (VoteHold): such a follower
        may have lost what it acknowledged, and counts towards no commit, read or quorum
        check until it is released (see `_release_due`)."""
        if rejoining:
            if not pr.rejoining:
                pr.rejoining = True
                pr.rejoin_floor = self.log.committed
                pr.distrust()
                self._needs_flush = True
        elif pr.rejoining:
            pr.rejoining = False

    def _release_due(self, pr: Progress) -> bool:
        """Whether a rejoining follower holds our commit index, reached in our term without
        it (after it started rejoining): it may vote again."""
        committed = self.log.committed
        return (
            pr.rejoining
            and pr.match >= committed > pr.rejoin_floor
            and self.log.term(committed) == self.term
        )

    def _handle_append_response(self, message: AppendResponse, pr: Progress) -> None:
        self._note_rejoining(pr, message.rejoining)
        if not message.rejoining:
            pr.recent_active = True
            if message.stamp:
                self._acknowledge(pr, message.stamp)
        if message.reject:
            hint = message.hint_index
            if message.hint_term > 0:
                hint = self.log.find_conflict_by_term(hint, message.hint_term)[0]
            if hint < pr.match:
                # It lost entries it had acknowledged, whether it knows (rejoining) or not (a
                # disk that lied about a sync). Not a stale rejection, as etcd's progress
                # would take it (and probe above the follower's log for ever): one stream
                # per node pair delivers in order, so an answer that denies an entry came
                # after the answer that acknowledged it.
                pr.forget_to(hint)
                self._needs_flush = True
                return
            if pr.maybe_decrease(message.index, hint):
                if pr.state is REPLICATE:
                    pr.become_probe()
                self._needs_flush = True
            return
        index = message.index
        if pr.maybe_update(index) or (pr.match == index and pr.state is PROBE):
            state = pr.state
            if state is PROBE:
                pr.become_replicate()
            elif state is SNAPSHOT:
                if pr.match >= self.log.offset:
                    pr.become_probe()
                    pr.become_replicate()
            else:
                pr.free_inflight_to(index)
            self._maybe_commit()
            if self.role is not LEADER:  # the commit removed us from the group
                return
            self._needs_flush = True
            if message.src == self._transferee and pr.match == self.log.last_index():
                self._send_timeout_now(message.src)

    def _handle_heartbeat_response(self, message: HeartbeatResponse, pr: Progress) -> None:
        self._note_rejoining(pr, message.rejoining)
        pr.probe_sent = False
        if not message.rejoining:
            pr.recent_active = True
            if message.stamp:
                self._acknowledge(pr, message.stamp)
        if pr.state is SNAPSHOT:
            pr.snap_idle += 1
            if pr.snap_idle * self.config.heartbeat_ticks >= self._election_ticks:
                # No chunk was acknowledged for an election timeout: chunks or their answers
                # were lost. Send again from what the follower confirmed.
                pr.rewind_snapshot(pr.snap_acked)
            self._needs_flush = True
        elif pr.state is PROBE:
            self._needs_flush = True
        elif pr.match < self.log.last_index():
            # Appends (or their answers) may have been lost: an empty append at the end of
            # what we sent is rejected if so, and the rejection puts the follower back to
            # probing. Sent even when the in-flight window is full.
            self._send_empty_append(message.src, pr)

    def _handle_snapshot_response(self, message: SnapshotResponse, pr: Progress) -> None:
        self._note_rejoining(pr, message.rejoining)
        if not message.rejoining:
            pr.recent_active = True
            if message.stamp:
                self._acknowledge(pr, message.stamp)
        if pr.state is not SNAPSHOT or message.index != pr.snap_index:
            return
        if pr.snap_inflight:
            pr.snap_inflight -= 1
        offset = message.next_offset
        if offset > pr.snap_acked:
            pr.snap_acked = offset
            pr.snap_idle = 0
        if message.reject and offset < pr.snap_sent:
            pr.rewind_snapshot(offset)
        self._needs_flush = True

    def _acknowledge(self, pr: Progress, stamp: int) -> None:
        if stamp > pr.acked_stamp:
            pr.acked_stamp = stamp
            reads = self._reads
            if len(reads) and stamp >= reads.first_stamp():
                reads.release(self._quorum_stamp(), self._read_states)

    def _quorum_stamp(self) -> int:
        own = self.id
        progress = self._progress
        return quorum_value(
            [self._stamp if voter == own else progress[voter].acked_stamp for voter in self._voters]
        )

    def _maybe_commit(self) -> bool:
        log = self.log
        own = self.id
        progress = self._progress
        index = quorum_value(
            [
                log.stable
                if voter == own
                else (0 if progress[voter].rejoining else progress[voter].match)
                for voter in self._voters
            ]
        )
        if index > log.committed and log.term(index) == self.term:
            log.committed = index
            self._on_commit()
            return True
        return False

    def _on_commit(self) -> None:
        if self._reads_waiting:
            waiting = self._reads_waiting
            self._reads_waiting = []
            for context in waiting:
                self._start_read(context)
        if (
            self.id not in self._voters
            and self._pending_conf_index
            and self.log.committed >= self._pending_conf_index
        ):
            # Our own removal is committed: the remaining voters elect a leader among them.
            self._become_follower(self.term, 0)

    def _start_read(self, context: bytes) -> None:
        committed = self.log.committed
        if self._voters == (self.id,):
            self._read_states.append(ReadState(context, committed))
            return
        if self._lease_ticks and not self._lease_tainted:
            quorum = self._quorum_stamp()
            if quorum >= 0 and tick_of(quorum) + self._lease_ticks > self._ticks:
                self._read_states.append(ReadState(context, committed))
                return
        self._stamp += 1
        self._reads.add(self._stamp, committed, context)
        self._read_round = True

    def _flush(self) -> None:
        """Send what proposals, acknowledgements and reads made due since the last Ready."""
        if self._needs_flush:
            self._needs_flush = False
            for peer, pr in self._progress.items():
                if pr.state is REPLICATE:
                    while self._send_append(peer, pr):
                        pass
                else:
                    self._send_append(peer, pr)
            self._commit_due = False
        if self._read_round:
            self._read_round = False
            stamp = self._stamp
            for peer, pr in self._progress.items():
                if pr.sent_stamp < stamp and not pr.is_learner:
                    self._send_heartbeat(peer, pr)

    def _send_append(self, peer: int, pr: Progress) -> bool:
        """Send the next append (or snapshot chunks) `pr` allows; True if it carried entries
        (so that a replicating follower may take another)."""
        state = pr.state
        if state is SNAPSHOT:
            self._send_snapshot_chunks(peer, pr)
            return False
        if pr.paused():
            return False
        log = self.log
        prev = pr.next - 1
        prev_term = log.term(prev)
        if prev_term is None:
            self._start_snapshot(peer, pr)
            return False
        if pr.next <= log.offset + len(log.entries):
            entries = log.slice_limited(pr.next, self._max_entries, self._max_bytes)
        else:
            entries = _NO_ENTRIES
        committed = log.committed
        if (
            state is REPLICATE
            and not entries
            and (pr.sent_commit >= committed or not (self._commit_due or self.config.eager_commit))
        ):
            return False
        self._append_to(peer, pr, prev, prev_term, entries)
        if state is REPLICATE:
            if entries:
                last = entries[-1].index
                pr.next = last + 1
                pr.inflight.append(last)
                return True
            return False
        pr.probe_sent = True
        return False

    def _send_empty_append(self, peer: int, pr: Progress) -> None:
        prev = pr.next - 1
        prev_term = self.log.term(prev)
        if prev_term is None:
            # What we streamed is compacted by now: probe, which leads to a snapshot.
            pr.become_probe()
            self._needs_flush = True
            return
        self._append_to(peer, pr, prev, prev_term, _NO_ENTRIES)

    def _append_to(
        self, peer: int, pr: Progress, prev: int, prev_term: int, entries: Sequence[Entry]
    ) -> None:
        stamp = self._stamp
        committed = self.log.committed
        self._send(
            AppendEntries(
                self.group,
                self.id,
                peer,
                self.term,
                prev,
                prev_term,
                entries,
                committed,
                stamp,
                pr.rejoining and self._release_due(pr),
            )
        )
        pr.sent_commit = committed
        pr.sent_stamp = stamp

    def _send_heartbeat(self, peer: int, pr: Progress) -> None:
        stamp = self._stamp
        commit = min(pr.match, self.log.committed)
        self._send(
            Heartbeat(
                self.group,
                self.id,
                peer,
                self.term,
                commit,
                stamp,
                pr.rejoining and self._release_due(pr),
                self._transfer_announced,
            )
        )
        pr.sent_stamp = stamp

    def _start_snapshot(self, peer: int, pr: Progress) -> None:
        snapshot = self._snapshot
        if snapshot is None:
            raise AssertionError("entries were compacted but there is no snapshot to send")
        pr.become_snapshot(snapshot.meta.index)
        self._send_snapshot_chunks(peer, pr)

    def _send_snapshot_chunks(self, peer: int, pr: Progress) -> None:
        snapshot = self._snapshot
        assert snapshot is not None
        meta = snapshot.meta
        if meta.index != pr.snap_index:
            pr.become_snapshot(meta.index)  # a newer snapshot replaces the one being sent
        stamp = self._stamp
        config = self.config
        chunks = next_chunks(
            snapshot, pr, config.snapshot_chunk_bytes, config.max_inflight_snapshot_chunks
        )
        for offset, chunk, done in chunks:
            self._send(
                InstallSnapshot(
                    self.group, self.id, peer, self.term, meta, offset, chunk, done, stamp
                )
            )
            pr.sent_stamp = stamp

    # -- membership ------------------------------------------------------------------------

    def _set_conf(self, conf: ConfState) -> None:
        self.conf = conf
        self._voters = conf.voters
        if self.role is LEADER:
            self._sync_progress()
            if self._transferee and self._transferee not in conf.voters:
                self._end_transfer()

    def _sync_progress(self) -> None:
        """Track exactly the members other than ourselves (leader only)."""
        conf = self.conf
        progress = self._progress
        members = set(conf.voters) | set(conf.learners)
        members.discard(self.id)
        for peer in list(progress):
            if peer not in members:
                del progress[peer]
        next_index = self.log.last_index() + 1
        max_inflight = self.config.max_inflight_appends
        for peer in members:
            learner = peer in conf.learners
            pr = progress.get(peer)
            if pr is None:
                progress[peer] = Progress(next_index, max_inflight, learner)
            else:
                pr.is_learner = learner
        self._needs_flush = True

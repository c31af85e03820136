"""slotraft's Raft core: sans-IO, in the style of etcd-io/raft's RawNode.

Nothing here touches sockets, clocks, threads, files or global randomness: the caller drives
a replica with calls and does the I/O the replica asks for.

One replica of one group::

    node = RaftNode(RaftConfig(node_id=1, group_id=7), restored, rng)

`restored` is a `RestoredState` (hard state, snapshot with its data or None, the entries
after it) that storage replayed; `bootstrap_state(voters)` for the first start of a new
group (every initial voter starts from the same state); `RestoredState()` for a replica
being added to an existing group. `rng` (a seeded `random.Random`) randomizes election
timeouts. On a restart the application rebuilds its state machine from `restored.snapshot`
itself; the committed entries after it are handed out again in Readies.

Inputs:
- `tick()`: one unit of logical time (elections, heartbeats, check-quorum, lease).
- `step(message)`: a message from a peer (node.raft.messages).
- `propose(data) -> index`: leader only; raises `NotLeader(leader_id or 0)` elsewhere and
  `LeaderTransferInProgress` (a NotLeader naming the target) during a transfer. The proposal
  succeeded if a Ready later hands out a committed entry at that index with the term it was
  proposed in (`node.term` at the call); a different term there means it was lost.
- `propose_conf_change(ConfChange(...))`: add a voter or learner, promote a learner (once it
  caught up), remove a member. One at a time; raises `ConfChangeRejected` otherwise.
- `read_index(context)`: leader only; a later Ready carries `ReadState(context, index)`.
- `transfer_leader(target)`, `compact(index, snapshot_data) -> SnapshotMeta`,
  `report_unreachable(peer)`, `report_snapshot(peer, ok)`.

Output: `has_ready()`, `ready() -> Ready`, `advance(ready)`. A Ready lists what to persist
(hard state, entries with an optional truncation point, an installed snapshot), messages
that may be sent only after that is durable, committed entries to apply, read states and
dropped reads, and role/leader changes; see `Ready` for the exact order. One Ready is
outstanding at a time; stepping, ticking and proposing stay allowed meanwhile.

Status: `status()` (role, term, leader, commit, applied, last index, membership, and on the
leader each peer's match/next/state); `role`, `term`, `leader`, `conf`, `log` are readable.

Snapshots travel in-band: InstallSnapshot chunks (offset, data, done) of the data given to
`compact` (or restored, or received), reassembled by the follower and handed out as
`ready.snapshot`.

Many groups on one node: `MultiRaft(node_id, rng)` (node.raft.multi) with `add_group`,
one `tick()`, `step(batch)` and a `MultiReady` whose `outbox` groups the messages of every
group per destination node. Replica ids are node ids.

Membership: a replica that was removed keeps its hard state (term and vote) if it may ever
be added back under the same id; wiping it and re-adding the same id can let it vote twice
in one term.

Lost disks: a replica that starts again under the same id without its data must not vote,
campaign or count towards a leader's commits and reads until it holds again what it had
acknowledged: `hold_votes(VoteHold.UNTIL_CAUGHT_UP)` (a leader releases it once it reached
a commit of its own term without it). `VoteHold.UNTIL_RELEASED` holds a replica whose
caller does not know yet whether its empty disk is new or lost.
"""

from node.raft.confchange import ConfChange, ConfChangeType, bootstrap_state
from node.raft.config import RaftConfig
from node.raft.core import RaftNode, VoteHold
from node.raft.errors import ConfChangeRejected, LeaderTransferInProgress, NotLeader, RaftError
from node.raft.multi import MultiRaft, MultiReady
from node.raft.readonly import ReadState
from node.raft.ready import Ready, Role, SoftState, Status
from node.raft.types import (
    ConfState,
    Entry,
    EntryType,
    HardState,
    RestoredState,
    Snapshot,
    SnapshotMeta,
)

__all__ = [
    "ConfChange",
    "ConfChangeRejected",
    "ConfChangeType",
    "ConfState",
    "Entry",
    "EntryType",
    "HardState",
    "LeaderTransferInProgress",
    "MultiRaft",
    "MultiReady",
    "NotLeader",
    "RaftConfig",
    "RaftError",
    "RaftNode",
    "ReadState",
    "Ready",
    "RestoredState",
    "Role",
    "Snapshot",
    "SnapshotMeta",
    "SoftState",
    "Status",
    "VoteHold",
    "bootstrap_state",
]

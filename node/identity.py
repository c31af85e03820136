"""Is this node's data directory the one its peers knew? Lost-disk detection.

Raft's safety rests on what each replica persisted: the vote it gave in a term and the
entries it acknowledged. A node whose disk was lost (a wiped volume, a replaced machine)
that starts again under its id has neither; as a voter it could vote twice in a term or
help elect a leader that lacks an entry committed with its own lost acknowledgement. So:

- A data directory draws a random incarnation when it is first used (`identity.json`,
  written before the WAL exists). A directory that already holds a WAL but no identity
  (written by an older version) is trusted.
- Every Raft batch carries the sender's incarnation and state, and the incarnation the
  sender has on record for the receiver (`IdentityKeeper.header`).
- A new directory starts in state NEW: its replicas hold their votes (VoteHold.
  UNTIL_RELEASED) and it learns from its peers' batches what they knew of it. A peer that
  recorded another incarnation means the data was lost: REJOINING, the replicas hold their
  votes until each has caught up with a leader (VoteHold.UNTIL_CAUGHT_UP), then VERIFIED.
  Once a majority of the cluster (itself included) know no other incarnation, the
  directory is new: VERIFIED, votes released (after the state is durable).
- A node records a peer's incarnation durably before it steps that peer's messages, and
  never records a NEW peer (which must still be able to hear what was recorded of it): a
  batch that cannot be stepped yet is dropped, which Raft tolerates.

A disk that keeps its directory but loses part of what it had synced (a torn WAL tail, a
commit index above the log: node/storage/recovery.py `suspected_losses`) leaves the same
doubt about the acknowledgements and the vote: the node rejoins the same way
(`IdentityKeeper.suspect_loss`, saved before storage repairs anything).

One lost disk at a time is what this covers: if a majority of the nodes lost theirs, the
data they acknowledged is gone and no protocol can bring it back.

`IdentityKeeper` is the pure logic; `load_identity`/`save_identity` the file.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from node.storage.disk import Syncer, replace_durably
from node.storage.errors import StorageError

IDENTITY_FILE = "identity.json"

NEW = "new"
VERIFIED = "verified"
REJOINING = "rejoining"
STATES = (NEW, VERIFIED, REJOINING)
# As proto IdentityState (0 is a sender that predates incarnations).
STATE_CODES = {NEW: 1, VERIFIED: 2, REJOINING: 3}
_NEW_CODE = STATE_CODES[NEW]
# The states in which a node holds its votes.
_HOLDING_CODES = frozenset({STATE_CODES[NEW], STATE_CODES[REJOINING]})


@dataclass(slots=True)
class Identity:
    """What identity.json holds."""

    incarnation: int
    state: str
    peers: dict[int, int] = field(default_factory=dict)  # peer id -> its incarnation
    # REJOINING because this node's own storage looked damaged (a torn tail), not because a
    # peer knew another directory: see IdentityKeeper.may_release_suspicion.
    suspected: bool = False


@dataclass(frozen=True, slots=True)
class Observation:
    accept: bool  # step the batch's messages
    write: bool  # the identity changed: save it (IdentityKeeper.to_save, then .saved)
    lost: bool  # this batch showed that our data was lost: hold votes until caught up


class IdentityKeeper:
    def __init__(self, cluster_size: int, identity: Identity) -> None:
        self.majority = cluster_size // 2 + 1
        self.incarnation = identity.incarnation
        self.state = identity.state  # may be ahead of the saved one (REJOINING at once)
        self.suspected = identity.suspected and identity.state == REJOINING
        self.peer_states: dict[int, int] = {}  # peer -> the state its last header gave
        self.records = dict(identity.peers)  # saved: messages of these peers are stepped
        self.unsaved: dict[int, int] = {}  # records waiting for their write
        self.confirmations: set[int] = set()  # NEW: peers that know no other incarnation
        # NEW: a majority confirmed (at once in a one-node cluster); VERIFIED once saved.
        self.verifying = identity.state == NEW and self.majority <= 1

    def header(self, peer: int) -> tuple[int, int, int]:
        """What a batch to `peer` carries: our incarnation, our state, our record of it."""
        return self.incarnation, STATE_CODES[self.state], self.records.get(peer, 0)

    def observe(self, peer: int, incarnation: int, state: int, about_us: int) -> Observation:
        """A batch from `peer` with its header."""
        if incarnation == 0:  # a peer that predates incarnations: nothing to check
            return Observation(True, False, False)
        write = lost = False
        self.peer_states[peer] = state
        if (
            about_us
            and about_us != self.incarnation
            and (self.state != REJOINING or self.suspected)
        ):
            # The peer knew another directory under our id: ours is not the one it knew.
            self.state = REJOINING
            self.suspected = False
            self.verifying = False
            lost = write = True
        elif self.state == NEW:
            self.confirmations.add(peer)
            if not self.verifying and len(self.confirmations) + 1 >= self.majority:
                self.verifying = True
                write = True
        known = self.records.get(peer)
        if known == incarnation:
            return Observation(True, write, lost)
        if state != _NEW_CODE and self.unsaved.get(peer) != incarnation:
            self.unsaved[peer] = incarnation
            write = True
        return Observation(False, write, lost)

    def suspect_loss(self) -> bool:
        """Storage found signs that this directory lost some of what it had acknowledged:
        REJOINING, as if a peer had said so. Whether a write is needed (a NEW directory
        holds its votes already, and never counted towards anything)."""
        if self.state != VERIFIED:
            return False
        self.state = REJOINING
        self.suspected = True
        self.verifying = False
        return True

    def may_release_suspicion(self) -> bool:
        """A node that holds its votes only because its own storage looked damaged may vote
        again once a majority of the cluster's nodes (itself included) hold theirs: then no
        leader can be elected otherwise. That is what a crash of every node (a power cut,
        `kill -9` of all) looks like, where the torn tails are writes that were never
        acknowledged; if instead a majority of the disks really lost acknowledged writes,
        no protocol can bring those back (one lost disk at a time is what this covers)."""
        if self.state != REJOINING or not self.suspected:
            return False
        holding = 1 + sum(1 for state in self.peer_states.values() if state in _HOLDING_CODES)
        return holding >= self.majority

    def caught_up(self) -> bool:
        """Every replica of a REJOINING node released its votes: save VERIFIED. Whether a
        write is needed."""
        if self.state != REJOINING:
            return False
        self.state = VERIFIED
        return True

    def override(self) -> str:
        """An operator says this directory is to be trusted as it is; the previous state."""
        previous = self.state
        self.state = VERIFIED
        self.suspected = False
        self.verifying = False
        return previous

    def to_save(self) -> Identity:
        """The identity to write now (pass it to `saved` once it is durable)."""
        state = VERIFIED if self.state == NEW and self.verifying else self.state
        records = {**self.records, **self.unsaved}
        return Identity(self.incarnation, state, records, self.suspected and state == REJOINING)

    def saved(self, identity: Identity) -> bool:
        """`identity` is durable. Returns True if that released a NEW node's votes."""
        for peer, incarnation in identity.peers.items():
            if self.unsaved.get(peer) == incarnation:
                del self.unsaved[peer]
            self.records[peer] = incarnation
        if self.state == NEW and identity.state == VERIFIED:
            self.state = VERIFIED
            return True
        return False


def load_identity(data_dir: Path, had_data: bool, syncer: Syncer | None = None) -> Identity:
    """The directory's identity; created (and made durable) if it has none: NEW for an empty
    directory, VERIFIED for one that already holds data (written before identities)."""
    path = data_dir / IDENTITY_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        identity = Identity(random.getrandbits(63) | 1, VERIFIED if had_data else NEW)
        save_identity(data_dir, identity, syncer)
        return identity
    try:
        document = json.loads(text)
        identity = Identity(
            int(document["incarnation"]),
            str(document["state"]),
            {int(peer): int(value) for peer, value in document["peers"].items()},
            bool(document.get("suspected", False)),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise StorageError(f"{path}: unreadable identity ({error}); refusing to start") from None
    if identity.state not in STATES or identity.incarnation <= 0:
        raise StorageError(f"{path}: invalid identity {document!r}; refusing to start")
    return identity


def save_identity(data_dir: Path, identity: Identity, syncer: Syncer | None = None) -> None:
    """Replace identity.json durably (write, fsync, rename, fsync the directory)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    document = {
        "incarnation": identity.incarnation,
        "state": identity.state,
        "peers": {str(peer): value for peer, value in sorted(identity.peers.items())},
    }
    if identity.suspected:
        document["suspected"] = True
    text = json.dumps(document, indent=1) + "\n"
    replace_durably(data_dir / IDENTITY_FILE, [text.encode()], syncer or Syncer())

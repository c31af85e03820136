"""Many Raft groups on one node: one tick for all, one batch of messages per peer node.

A replica's id is the id of the node hosting it, so a message's `dst` names the node to send
it to. One `MultiReady` covers every group with work: the caller persists all of them with
one fsync (group commit), then sends each outbox batch to its node (the heartbeats of all
groups to that node travel together), applies, and calls `advance` once.

An idle group costs one `tick()` and one `has_ready()` call per cycle: a few integer
updates and comparisons, no allocation, and no message beyond its heartbeats.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Iterator

from node.raft.config import RaftConfig
from node.raft.core import RaftNode, VoteHold
from node.raft.errors import RaftError
from node.raft.messages import Message
from node.raft.ready import Ready
from node.raft.types import RestoredState
from node.raft.validate import Rejection, RejectionLog, check_for_replica

log = logging.getLogger("slotraft.raft")

# Rejected messages are logged at most once per sender and reason in this many ticks.
REJECTION_LOG_TICKS = 500


class MultiReady:
    __slots__ = ("groups", "outbox")

    def __init__(self) -> None:
        self.groups: dict[int, Ready] = {}  # group id -> its Ready
        self.outbox: dict[int, list[Message]] = {}  # destination node -> its batch

    def must_persist(self) -> bool:
        return any(ready.must_persist() for ready in self.groups.values())


class MultiRaft:
    def __init__(self, node_id: int, rng: random.Random) -> None:
        """`rng` (seeded by the caller) randomizes every group's election timeouts."""
        self.node_id = node_id
        self._rng = rng
        self._groups: dict[int, RaftNode] = {}
        self._nodes: list[RaftNode] = []
        self._outstanding: MultiReady | None = None
        self.vote_hold = VoteHold.NONE  # given to groups added later too
        self._ticks = 0
        self._rejections = RejectionLog(REJECTION_LOG_TICKS)
        self.rejected = 0  # messages dropped by node.raft.validate, for tests and stats

    def hold_votes(self, hold: VoteHold) -> None:
        """Hold (or release) the votes of every replica of this node; see VoteHold."""
        self.vote_hold = hold
        for node in self._nodes:
            node.hold_votes(hold)

    def votes_held(self) -> bool:
        """Whether some replica still holds its votes (`UNTIL_CAUGHT_UP` ones release
        themselves)."""
        return any(node.vote_hold is not VoteHold.NONE for node in self._nodes)

    def add_group(self, config: RaftConfig, restored: RestoredState | None = None) -> RaftNode:
        if config.node_id != self.node_id:
            raise RaftError(f"group {config.group_id} configured for node {config.node_id}")
        if config.group_id in self._groups:
            raise RaftError(f"group {config.group_id} already exists on node {self.node_id}")
        node = RaftNode(config, restored, self._rng)
        if self.vote_hold is not VoteHold.NONE:
            node.hold_votes(self.vote_hold)
        self._groups[config.group_id] = node
        self._nodes.append(node)
        return node

    def remove_group(self, group_id: int) -> None:
        """Forget a replica (removed from its group; the caller deletes or keeps its data)."""
        node = self._groups.pop(group_id)
        self._nodes.remove(node)
        if self._outstanding is not None:
            self._outstanding.groups.pop(group_id, None)

    def group(self, group_id: int) -> RaftNode:
        return self._groups[group_id]

    def get(self, group_id: int) -> RaftNode | None:
        return self._groups.get(group_id)

    def __contains__(self, group_id: int) -> bool:
        return group_id in self._groups

    def __iter__(self) -> Iterator[RaftNode]:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def tick(self) -> None:
        self._ticks += 1
        for node in self._nodes:
            node.tick()

    def step(self, messages: Iterable[Message]) -> list[Message]:
        """Step a batch received from a peer (well-formed: `validate.check_batch`); returns
        the messages for groups this node does not host (the caller may create the replica
        and step them again, or drop them). A message the replica must not take
        (`validate.check_for_replica`) is dropped with a rate-limited warning."""
        groups = self._groups
        unknown: list[Message] = []
        for message in messages:
            node = groups.get(message.group)
            if node is None:
                unknown.append(message)
                continue
            rejection = check_for_replica(node, message)
            if rejection is None:
                node.step(message)
            else:
                self._reject(message, rejection)
        return unknown

    def _reject(self, message: Message, rejection: Rejection) -> None:
        self.rejected += 1
        left_out = self._rejections.admit(message.src, rejection.reason, self._ticks)
        if left_out is not None:
            log.warning(
                "dropped a Raft message of group %d from node %d: %s%s",
                message.group,
                message.src,
                rejection,
                f" ({left_out} more like it not logged)" if left_out else "",
                extra={"node": self.node_id, "shard": "-"},
            )

    def has_ready(self) -> bool:
        if self._outstanding is not None:
            return False
        return any(node.has_ready() for node in self._nodes)

    def ready(self) -> MultiReady:
        if self._outstanding is not None:
            raise RaftError("advance() the previous MultiReady first")
        batch = MultiReady()
        outbox = batch.outbox
        for node in self._nodes:
            if not node.has_ready():
                continue
            ready = node.ready()
            batch.groups[node.group] = ready
            for message in ready.messages:
                queue = outbox.get(message.dst)
                if queue is None:
                    outbox[message.dst] = [message]
                else:
                    queue.append(message)
        self._outstanding = batch
        return batch

    def advance(self, batch: MultiReady) -> None:
        if batch is not self._outstanding:
            raise RaftError("advance() takes the MultiReady last returned by ready()")
        self._outstanding = None
        groups = self._groups
        for group_id, ready in batch.groups.items():
            node = groups.get(group_id)
            if node is not None:
                node.advance(ready)

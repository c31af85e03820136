"""Errors the Raft core raises to its caller (never for anything a peer sends)."""

from __future__ import annotations


class RaftError(Exception):
    """Base of the errors below."""


class NotLeader(RaftError):
    """This replica cannot take the request: only the leader can. `leader_id` is the leader
    this replica knows of, 0 if none; the caller retries there."""

    def __init__(self, leader_id: int, message: str | None = None) -> None:
        super().__init__(message or f"not the leader (leader: {leader_id or 'unknown'})")
        self.leader_id = leader_id


class LeaderTransferInProgress(NotLeader):
    """The leader is handing leadership to `leader_id` and takes no proposals meanwhile."""

    def __init__(self, leader_id: int) -> None:
        super().__init__(leader_id, f"leadership is being transferred to {leader_id}")


class ConfChangeRejected(RaftError):
    """A membership change that is invalid now: another one is still uncommitted, the leader
    has not committed an entry in its term yet, the change does not fit the current
    membership, or a learner to promote has not caught up."""

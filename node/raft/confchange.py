"""Membership changes, one replica at a time, and their encoding in CONF_CHANGE entries.

A change takes effect on a replica as soon as its entry is in that replica's log (committed
or not; an entry truncated away reverts it), which is the rule of the Raft dissertation
(section 4.1): with one replica added or removed per change, any two consecutive
memberships have overlapping majorities. The leader allows one uncommitted change at a time.

A new group's log starts with a SET entry at index 1 holding the initial membership, so a
replica that later joins and replays the log from index 1 learns the full membership.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from node.raft.types import ConfState, Entry, EntryType, HardState, RestoredState

_CHANGE = struct.Struct("<BBQ")  # version, kind, node id
_SET_HEAD = struct.Struct("<BBHH")  # version, kind, voter count, learner count
_ID = struct.Struct("<Q")
_VERSION = 1


class ConfChangeType(enum.IntEnum):
    ADD_VOTER = 0  # a node that is not a member yet becomes a voter
    ADD_LEARNER = 1  # a node that is not a member yet becomes a learner (non-voting)
    PROMOTE_LEARNER = 2  # a learner becomes a voter
    REMOVE_NODE = 3  # a voter or learner leaves
    SET = 4  # the initial membership of a new group (only in its first entry)


@dataclass(frozen=True, slots=True)
class ConfChange:
    type: ConfChangeType
    node_id: int = 0
    voters: tuple[int, ...] = ()  # SET only
    learners: tuple[int, ...] = ()  # SET only


class InvalidConfChange(ValueError):
    pass


_KINDS = frozenset(kind.value for kind in ConfChangeType)


def encode(change: ConfChange) -> bytes:
    if change.type is ConfChangeType.SET:
        head = _SET_HEAD.pack(_VERSION, change.type, len(change.voters), len(change.learners))
        return head + b"".join(_ID.pack(i) for i in (*change.voters, *change.learners))
    return _CHANGE.pack(_VERSION, change.type, change.node_id)


def decode(data: bytes) -> ConfChange:
    """Raises InvalidConfChange (only) for anything `encode` did not produce."""
    if len(data) < 2 or data[0] != _VERSION or data[1] not in _KINDS:
        raise InvalidConfChange(f"unknown conf change encoding {data[:2]!r}")
    kind = ConfChangeType(data[1])
    if kind is ConfChangeType.SET:
        if len(data) < _SET_HEAD.size:
            raise InvalidConfChange("truncated membership")
        _, _, n_voters, n_learners = _SET_HEAD.unpack_from(data)
        if len(data) != _SET_HEAD.size + _ID.size * (n_voters + n_learners):
            raise InvalidConfChange("membership length does not match its counts")
        ids = [
            _ID.unpack_from(data, _SET_HEAD.size + 8 * i)[0] for i in range(n_voters + n_learners)
        ]
        return ConfChange(kind, voters=tuple(ids[:n_voters]), learners=tuple(ids[n_voters:]))
    if len(data) != _CHANGE.size:
        raise InvalidConfChange("membership change of the wrong length")
    _, _, node_id = _CHANGE.unpack(data)
    return ConfChange(kind, node_id)


def check(conf: ConfState, change: ConfChange) -> None:
    """Raise InvalidConfChange unless `change` can be applied to `conf`."""
    node = change.node_id
    member = node in conf.voters or node in conf.learners
    match change.type:
        case ConfChangeType.ADD_VOTER | ConfChangeType.ADD_LEARNER:
            if node <= 0 or member:
                raise InvalidConfChange(f"node {node} is already a member or not a valid id")
        case ConfChangeType.PROMOTE_LEARNER:
            if node not in conf.learners:
                raise InvalidConfChange(f"node {node} is not a learner")
        case ConfChangeType.REMOVE_NODE:
            if not member:
                raise InvalidConfChange(f"node {node} is not a member")
            if conf.voters == (node,):
                raise InvalidConfChange("cannot remove the last voter")
        case ConfChangeType.SET:
            raise InvalidConfChange("SET only starts a new group")


def apply(conf: ConfState, change: ConfChange) -> ConfState:
    """The membership after `change`. An entry that does not fit leaves it unchanged: every
    replica evaluates the same log in the same order, so they all agree either way."""
    if change.type is ConfChangeType.SET:
        return ConfState(tuple(sorted(change.voters)), tuple(sorted(change.learners)))
    try:
        check(conf, change)
    except InvalidConfChange:
        return conf
    voters = set(conf.voters)
    learners = set(conf.learners)
    node = change.node_id
    match change.type:
        case ConfChangeType.ADD_VOTER:
            voters.add(node)
        case ConfChangeType.ADD_LEARNER:
            learners.add(node)
        case ConfChangeType.PROMOTE_LEARNER:
            learners.discard(node)
            voters.add(node)
        case ConfChangeType.REMOVE_NODE:
            voters.discard(node)
            learners.discard(node)
    return ConfState(tuple(sorted(voters)), tuple(sorted(learners)))


def bootstrap_state(voters: tuple[int, ...], learners: tuple[int, ...] = ()) -> RestoredState:
    """The state every initial replica of a new group starts from: the same first entry
    (term 1) holding the membership, already committed (all replicas have it)."""
    if not voters:
        raise ValueError("a group needs at least one voter")
    entry = Entry(
        1, 1, EntryType.CONF_CHANGE, encode(ConfChange(ConfChangeType.SET, 0, voters, learners))
    )
    return RestoredState(HardState(term=1, vote=0, commit=1), None, (entry,))

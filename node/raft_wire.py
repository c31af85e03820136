"""Raft messages to and from the protobuf wire form (proto/slotraft.proto: RaftMessage).

The Raft core knows nothing of protobuf; the transport converts at the edge. Fields mean
what the .proto says, and `force` on a Heartbeat carries Heartbeat.transfer (the leader
announced a leader transfer: node.raft.core `_forced_by_transfer`). Decoding checks only the
message type and entry types; node.raft.validate checks the rest before anything is stepped."""

from __future__ import annotations

from collections.abc import Callable

from node.raft import messages as m
from node.raft.log import make_entry
from node.raft.types import ConfState, EntryType, SnapshotMeta
from proto import slotraft_pb2 as pb

_APPEND, _APPEND_RESP, _HEARTBEAT, _HEARTBEAT_RESP = 1, 2, 3, 4
_VOTE, _VOTE_RESP, _SNAPSHOT, _SNAPSHOT_RESP, _TIMEOUT_NOW = 5, 6, 7, 8, 9
_ENTRY_TYPES = tuple(EntryType)  # indexed by value: 0, 1


def to_wire(message: m.Message) -> pb.RaftMessage:
    if isinstance(message, (m.AppendEntries, m.AppendResponse)):
        batch = pb.RaftBatch()
        add_to_batch(batch, message)
        return batch.messages[0]
    if isinstance(message, m.Heartbeat):
        return pb.RaftMessage(
            type=_HEARTBEAT,
            group=message.group,
            from_node=message.src,
            to_node=message.dst,
            term=message.term,
            commit=message.commit,
            stamp=message.stamp,
            flag=message.release_hold,
            force=message.transfer,
        )
    if isinstance(message, m.HeartbeatResponse):
        return pb.RaftMessage(
            type=_HEARTBEAT_RESP,
            group=message.group,
            from_node=message.src,
            to_node=message.dst,
            term=message.term,
            stamp=message.stamp,
            flag=message.rejoining,
        )
    if isinstance(message, m.RequestVote):
        return pb.RaftMessage(
            type=_VOTE,
            group=message.group,
            from_node=message.src,
            to_node=message.dst,
            term=message.term,
            index=message.last_index,
            log_term=message.last_term,
            flag=message.pre,
            force=message.force,
        )
    if isinstance(message, m.VoteResponse):
        return pb.RaftMessage(
            type=_VOTE_RESP,
            group=message.group,
            from_node=message.src,
            to_node=message.dst,
            term=message.term,
            reject=not message.granted,
            flag=message.pre,
        )
    if isinstance(message, m.InstallSnapshot):
        meta = message.meta
        return pb.RaftMessage(
            type=_SNAPSHOT,
            group=message.group,
            from_node=message.src,
            to_node=message.dst,
            term=message.term,
            snapshot_index=meta.index,
            snapshot_term=meta.term,
            snapshot_voters=meta.conf.voters,
            snapshot_learners=meta.conf.learners,
            chunk_offset=message.offset,
            chunk_data=message.data,
            chunk_done=message.done,
            stamp=message.stamp,
        )
    if isinstance(message, m.SnapshotResponse):
        return pb.RaftMessage(
            type=_SNAPSHOT_RESP,
            group=message.group,
            from_node=message.src,
            to_node=message.dst,
            term=message.term,
            index=message.index,
            chunk_offset=message.next_offset,
            reject=message.reject,
            stamp=message.stamp,
            flag=message.rejoining,
        )
    if isinstance(message, m.TimeoutNow):
        return pb.RaftMessage(
            type=_TIMEOUT_NOW,
            group=message.group,
            from_node=message.src,
            to_node=message.dst,
            term=message.term,
        )
    raise TypeError(f"not a Raft message: {message!r}")


def add_to_batch(batch: pb.RaftBatch, message: m.Message) -> None:
    """Append `message` to `batch` as to_wire would, but built in place: the two most
    frequent kinds are not built as separate messages (and their entries) and then copied."""
    if isinstance(message, m.AppendEntries):
        wire = batch.messages.add(
            type=_APPEND,
            group=message.group,
            from_node=message.src,
            to_node=message.dst,
            term=message.term,
            index=message.prev_index,
            log_term=message.prev_term,
            commit=message.commit,
            stamp=message.stamp,
            flag=message.release_hold,
        )
        if message.entries:
            add_entry = wire.entries.add
            for entry in message.entries:
                add_entry(index=entry.index, term=entry.term, type=entry.type, data=entry.data)
    elif isinstance(message, m.AppendResponse):
        batch.messages.add(
            type=_APPEND_RESP,
            group=message.group,
            from_node=message.src,
            to_node=message.dst,
            term=message.term,
            index=message.index,
            reject=message.reject,
            reject_hint=message.hint_index,
            hint_term=message.hint_term,
            stamp=message.stamp,
            flag=message.rejoining,
        )
    else:
        batch.messages.append(to_wire(message))


def _append(w: pb.RaftMessage) -> m.Message:
    return m.AppendEntries(
        w.group,
        w.from_node,
        w.to_node,
        w.term,
        w.index,
        w.log_term,
        tuple(make_entry(e.index, e.term, _entry_type(e.type), e.data) for e in w.entries),
        w.commit,
        w.stamp,
        w.flag,
    )


def _entry_type(value: int) -> EntryType:
    try:
        return _ENTRY_TYPES[value]
    except IndexError:
        raise ValueError(f"unknown Raft entry type {value}") from None


def _append_resp(w: pb.RaftMessage) -> m.Message:
    return m.AppendResponse(
        w.group,
        w.from_node,
        w.to_node,
        w.term,
        w.index,
        w.reject,
        w.reject_hint,
        w.hint_term,
        w.stamp,
        w.flag,
    )


def _heartbeat(w: pb.RaftMessage) -> m.Message:
    return m.Heartbeat(
        group=w.group,
        src=w.from_node,
        dst=w.to_node,
        term=w.term,
        commit=w.commit,
        stamp=w.stamp,
        release_hold=w.flag,
        transfer=w.force,
    )


def _heartbeat_resp(w: pb.RaftMessage) -> m.Message:
    return m.HeartbeatResponse(
        group=w.group, src=w.from_node, dst=w.to_node, term=w.term, stamp=w.stamp, rejoining=w.flag
    )


def _vote(w: pb.RaftMessage) -> m.Message:
    return m.RequestVote(
        group=w.group,
        src=w.from_node,
        dst=w.to_node,
        term=w.term,
        last_index=w.index,
        last_term=w.log_term,
        pre=w.flag,
        force=w.force,
    )


def _vote_resp(w: pb.RaftMessage) -> m.Message:
    return m.VoteResponse(
        group=w.group, src=w.from_node, dst=w.to_node, term=w.term, granted=not w.reject, pre=w.flag
    )


def _snapshot(w: pb.RaftMessage) -> m.Message:
    meta = SnapshotMeta(
        index=w.snapshot_index,
        term=w.snapshot_term,
        conf=ConfState(voters=tuple(w.snapshot_voters), learners=tuple(w.snapshot_learners)),
    )
    return m.InstallSnapshot(
        group=w.group,
        src=w.from_node,
        dst=w.to_node,
        term=w.term,
        meta=meta,
        offset=w.chunk_offset,
        data=w.chunk_data,
        done=w.chunk_done,
        stamp=w.stamp,
    )


def _snapshot_resp(w: pb.RaftMessage) -> m.Message:
    return m.SnapshotResponse(
        group=w.group,
        src=w.from_node,
        dst=w.to_node,
        term=w.term,
        index=w.index,
        next_offset=w.chunk_offset,
        reject=w.reject,
        stamp=w.stamp,
        rejoining=w.flag,
    )


def _timeout_now(w: pb.RaftMessage) -> m.Message:
    return m.TimeoutNow(group=w.group, src=w.from_node, dst=w.to_node, term=w.term)


_DECODERS: dict[int, Callable[[pb.RaftMessage], m.Message]] = {
    _APPEND: _append,
    _APPEND_RESP: _append_resp,
    _HEARTBEAT: _heartbeat,
    _HEARTBEAT_RESP: _heartbeat_resp,
    _VOTE: _vote,
    _VOTE_RESP: _vote_resp,
    _SNAPSHOT: _snapshot,
    _SNAPSHOT_RESP: _snapshot_resp,
    _TIMEOUT_NOW: _timeout_now,
}


def from_wire(wire: pb.RaftMessage) -> m.Message:
    decoder = _DECODERS.get(wire.type)
    if decoder is None:
        raise ValueError(f"unknown Raft message type {wire.type}")
    return decoder(wire)

"""Every field of every Raft message survives the protobuf wire form."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from node.raft import messages as m
from node.raft.types import ConfState, Entry, EntryType, SnapshotMeta
from node.raft_wire import add_to_batch, from_wire, to_wire
from proto import slotraft_pb2 as pb

KINDS = [
    m.AppendEntries,
    m.AppendResponse,
    m.Heartbeat,
    m.HeartbeatResponse,
    m.RequestVote,
    m.VoteResponse,
    m.InstallSnapshot,
    m.SnapshotResponse,
    m.TimeoutNow,
]


def sample(cls: type[m.Message]) -> m.Message:
    """An instance whose every field differs from its default."""
    values: dict[str, Any] = {}
    for number, field in enumerate(dataclasses.fields(cls), start=3):
        if field.name == "entries":
            values[field.name] = (Entry(7, 2, EntryType.CONF_CHANGE, b"x"), Entry(8, 2, data=b""))
        elif field.name == "meta":
            values[field.name] = SnapshotMeta(9, 4, ConfState((1, 2), (3,)))
        elif field.name == "data":
            values[field.name] = b"chunk"
        elif field.type in ("bool", bool):
            values[field.name] = True
        else:
            values[field.name] = number * 1000 + 1
    return cls(**values)


@pytest.mark.parametrize("cls", KINDS, ids=lambda cls: cls.__name__)
def test_round_trip_keeps_every_field(cls):
    message = sample(cls)
    wire = pb.RaftMessage.FromString(to_wire(message).SerializeToString())
    assert from_wire(wire) == message


@pytest.mark.parametrize("cls", KINDS, ids=lambda cls: cls.__name__)
def test_batch_built_in_place_matches_to_wire(cls):
    message = sample(cls)
    batch = pb.RaftBatch(from_node=5)
    add_to_batch(batch, message)
    add_to_batch(batch, message)
    assert list(batch.messages) == [to_wire(message)] * 2
    decoded = pb.RaftBatch.FromString(batch.SerializeToString())
    assert [from_wire(wire) for wire in decoded.messages] == [message] * 2


def test_entry_types_decode_to_the_enum_and_unknown_ones_are_refused():
    wire = to_wire(sample(m.AppendEntries))
    decoded = from_wire(wire)
    assert isinstance(decoded, m.AppendEntries)
    assert [entry.type for entry in decoded.entries] == [EntryType.CONF_CHANGE, EntryType.NORMAL]
    assert all(type(entry.type) is EntryType for entry in decoded.entries)
    wire.entries[0].type = 7
    with pytest.raises(ValueError, match="unknown Raft entry type 7"):
        from_wire(wire)


def test_vote_response_false_and_unknown_type():
    refused = m.VoteResponse(group=1, src=2, dst=3, term=4, granted=False, pre=False)
    assert from_wire(to_wire(refused)) == refused
    with pytest.raises(ValueError, match="unknown Raft message type"):
        from_wire(pb.RaftMessage(type=99))

"""Shard log entries: round trip, and a malformed entry is refused with a clear error."""

from __future__ import annotations

import random

import pytest

from node import entry_codec
from node.entry_codec import EntryFormatError, Request, ShardEntry
from node.shard_state import ShardState
from proto import slotraft_pb2 as pb


def test_kinds_match_the_wire_contract():
    assert entry_codec.COMMANDS == pb.COMMANDS
    assert entry_codec.TRANSACTION == pb.TRANSACTION


def test_round_trip():
    entry = ShardEntry(
        time_ms=1_700_000_000_000,
        seed=2**64 - 1,
        requests=[
            Request(7, 3, 2, entry_codec.COMMANDS, True, [[b"SET", b"k", b"\x00v"]], []),
            Request(7, 4, 2, entry_codec.TRANSACTION, False, [[b"INCR", b"n"]], [(b"k", b"d")]),
        ],
        expire_keys=[b"old"],
        evict_keys=[],
    )
    assert entry_codec.decode(entry_codec.encode(entry)) == entry


@pytest.mark.parametrize(
    "data", [b"", b"\x09junk", b"\x01", b"\x01\x00\x01", b"\x01" + b"\xe9" * 3]
)
def test_malformed_entries_are_refused(data):
    with pytest.raises(EntryFormatError):
        entry_codec.decode(data)


def test_apply_runs_requests_and_deduplicates_retries():
    state = ShardState()
    request = Request(9, 1, 1, entry_codec.COMMANDS, False, [[b"INCR", b"n"]], [])
    first = state.apply(entry_codec.encode(ShardEntry(10, 1, [request], [], [])))
    retry = state.apply(entry_codec.encode(ShardEntry(20, 2, [request], [], [])))
    assert first.results[0].replies == [b":1\r\n"]
    assert retry.results[0].replies == [b":1\r\n"]  # answered from the session table
    assert state.engine.execute([b"GET", b"n"], 30, random.Random(0)) == b"1"
    assert b"n" in first.changed_keys and not retry.changed_keys

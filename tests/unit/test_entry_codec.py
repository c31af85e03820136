"""Shard log entries: round trip, and a malformed entry is refused with a clear error."""

from __future__ import annotations

import marshal
import random

import pytest

from node import entry_codec
from node.entry_codec import EntryFormatError, Request, ShardEntry
from node.shard_state import ShardState
from proto import slotraft_pb2 as pb
from proto.acl import READ, new_user, set_user
from proto.acl_check import MAX_CALLER_RULES, caller_from_rules, caller_rules


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


def test_a_callers_rules_travel_and_a_request_without_them_keeps_its_seven_fields():
    rules = caller_rules(set_user(new_user(b"u"), [b"on", b"~a*", b"+@all", b"-del"]))
    plain = Request(7, 3, 2, entry_codec.COMMANDS, False, [[b"EVAL", b"return 1", b"0"]], [])
    restricted = plain._replace(caller=rules)
    entry = ShardEntry(1, 2, [plain, restricted], [], [])
    data = entry_codec.encode(entry)
    assert entry_codec.decode(data) == entry
    body = marshal.loads(data[1:])
    assert [len(request) for request in body[2]] == [7, 8]
    restored = caller_from_rules(rules)
    assert restored is not None and restored.root.allows_key(b"a1", READ)


@pytest.mark.parametrize("caller", [b"", "text", 5, b"x" * (MAX_CALLER_RULES + 1)])
def test_a_malformed_caller_is_refused(caller):
    request: tuple[object, ...] = (7, 3, 2, 0, False, [[b"GET", b"k"]], [], caller)
    data = b"\x01" + marshal.dumps((1, 2, [request], [], []), 4)
    with pytest.raises(EntryFormatError):
        entry_codec.decode(data)


def test_a_script_runs_with_its_callers_rules_and_unreadable_rules_allow_nothing():
    state = ShardState()
    rules = caller_rules(set_user(new_user(b"u"), [b"on", b"~a*", b"+@all", b"-del"]))

    def run(caller: bytes, *command: bytes) -> list[bytes] | None:
        request = Request(0, 0, 0, entry_codec.COMMANDS, False, [list(command)], [], caller)
        entry = entry_codec.encode(ShardEntry(10, 1, [request], [], []))
        return state.apply(entry).results[0].replies

    body = b"return redis.call(ARGV[1], KEYS[1])"
    assert run(rules, b"EVAL", b"return redis.call('set', KEYS[1], 1)", b"1", b"a1") == [b"+OK\r\n"]
    (denied,) = run(rules, b"EVAL", body, b"1", b"a1", b"del") or [b""]
    assert denied.startswith(b"-ERR The user executing the script can't run this command")
    (denied,) = run(b"[{]", b"EVAL", body, b"1", b"a1", b"get") or [b""]
    assert denied.startswith(b"-ERR The user executing the script can't run this command")
    assert run(b"", b"EVAL", body, b"1", b"a1", b"del") == [b":1\r\n"]
    # What was refused is reported with the result (for the router's ACL LOG).
    script = [b"EVAL", b"redis.pcall('get', 'b1') return redis.pcall('del', KEYS[1])", b"1", b"a1"]
    request = Request(0, 0, 0, entry_codec.COMMANDS, False, [[b"PING"], script], [], rules)
    result = state.apply(entry_codec.encode(ShardEntry(10, 1, [request], [], []))).results[0]
    assert result.denials == [(1, 2, b"b1"), (1, 1, b"del")]


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

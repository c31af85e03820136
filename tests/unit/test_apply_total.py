"""ShardState.apply is total: nothing in an entry stops a replica. A malformed entry is a
no-op that fails its requests; a command that raises unexpectedly answers an error reply,
the same bytes on every replica; only local resource failures escape."""

from __future__ import annotations

import marshal
import random
import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node import entry_codec
from node.engine import registry
from node.entry_codec import EntryFormatError, Request, ShardEntry
from node.shard_state import MALFORMED_REPLY, ShardState
from proto import resp


def _entry(*requests: Request, time_ms: int = 1000) -> bytes:
    return entry_codec.encode(ShardEntry(time_ms, 1, list(requests), [], []))


def _request(*commands: list[bytes], sequence: int = 0, kind: int = 0) -> Request:
    return Request(5, sequence, 0, kind, False, list(commands), [])


def _raw(body: Any) -> bytes:
    return bytes((entry_codec.ENTRY_VERSION,)) + marshal.dumps(body, 4)


GOOD: tuple[Any, ...] = (1, 1, 0, 0, False, [[b"SET", b"k", b"v"]], [])


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x09junk",
        b"\x01",
        b"\x01\x00\x01",
        _raw((1000, 1, [GOOD, GOOD[:6]], [], [])),
        _raw((1000, 1, [GOOD, (1, 1, 0, 0, False, [[b"SET", b"k", 5]], [])], [], [])),
    ],
)
def test_a_malformed_entry_is_a_no_op_that_fails_its_requests(data):
    state = ShardState()
    before = state.snapshot()
    outcome = state.apply(data)
    assert all(result.replies == [MALFORMED_REPLY] for result in outcome.results)
    assert state.snapshot() == before
    # and the replica goes on
    after = state.apply(_entry(_request([b"INCR", b"n"])))
    assert after.results[0].replies == [b":1\r\n"]


def test_a_malformed_entry_fails_as_many_requests_as_it_holds():
    data = _raw((1000, 1, [GOOD, GOOD, (1, 1, 0, 0, 1, [], [])], [], []))
    assert len(ShardState().apply(data).results) == 3


@pytest.mark.parametrize(
    "body",
    [
        # Each would be stored and then fail to serialize into every later snapshot.
        (1000, 1, [(-1, 1, 0, 0, False, [[b"SET", b"k", b"v"]], [])], [], []),
        (1000, 1, [(2**64, 1, 0, 0, False, [[b"SET", b"k", b"v"]], [])], [], []),
        (1000, 1, [(1, 2**64, 0, 0, False, [[b"SET", b"k", b"v"]], [])], [], []),
        (2**63, 1, [], [], []),
        (-5, 1, [], [], []),
        (1000, 1, [(1, 1, 0, 0, False, [[b"SET", b"k", 7]], [])], [], []),
        (1000, 1, [(1, 1, 0, 0, False, [[b"SET", "k", b"v"]], [])], [], []),
        (1000, 1, [(1, 1, 0, 1, False, [[b"GET", b"k"]], [(b"k", None)])], [], []),
        (1000, 1, [], [None], []),
        (1000, 1, [], [], [[b"k"]]),
    ],
)
def test_fields_out_of_type_or_range_are_malformed(body):
    with pytest.raises(EntryFormatError):
        entry_codec.decode(_raw(body))
    state = ShardState()
    state.apply(_raw(body))
    state.snapshot()  # still serializable


def _explode(db, args):
    db.set(b"touched", b"before the failure")
    db.changed.append(b"touched")
    raise ValueError(f"something at {id(args):#x}")


@pytest.fixture
def exploding_command(monkeypatch):
    monkeypatch.setitem(registry.IMPLEMENTATIONS, "getdel", _explode)


EXPECTED = resp.encode(resp.Error(b"ERR internal error in 'getdel': ValueError"))


def test_an_unexpected_exception_is_the_command_s_error_reply(exploding_command):
    replicas = [ShardState(), ShardState()]
    entry = _entry(_request([b"GETDEL", b"k"], [b"INCR", b"n"], sequence=1))
    outcomes = [replica.apply(entry) for replica in replicas]
    for outcome in outcomes:
        assert outcome.results[0].replies == [EXPECTED, b":1\r\n"]
        assert b"touched" in outcome.changed_keys
    assert replicas[0].digest() == replicas[1].digest()
    touched = replicas[0].engine.execute([b"GET", b"touched"], 2000, random.Random(0))
    assert touched == b"before the failure"
    # recorded in the session like any answer: the retry gets the same reply
    retry = replicas[0].apply(_entry(_request([b"GETDEL", b"k"], [b"INCR", b"n"], sequence=1)))
    assert retry.results[0].replies == [EXPECTED, b":1\r\n"]


def test_an_unexpected_exception_in_a_transaction_or_a_script(exploding_command):
    state = ShardState()
    outcome = state.apply(
        _entry(
            _request([b"GETDEL", b"k"], [b"SET", b"a", b"1"], kind=entry_codec.TRANSACTION),
            _request([b"EVAL", b"return redis.pcall('GETDEL', 'k')", b"0"]),
        )
    )
    assert outcome.results[0].replies == [b"*2\r\n" + EXPECTED + b"+OK\r\n"]
    assert outcome.results[1].replies == [EXPECTED]


def test_a_read_that_raises_answers_the_same_error(exploding_command, monkeypatch):
    monkeypatch.setitem(registry.IMPLEMENTATIONS, "get", _explode)
    reply = ShardState().engine.execute_readonly([b"GET", b"k"], 1000, random.Random(0))
    assert reply == resp.Error(b"ERR internal error in 'get': ValueError")


def test_an_error_outside_any_command_fails_the_request(monkeypatch):
    """Past the engine's own guard (here: a failing session lookup) the request fails as a
    whole, one error per command, and the entry's other requests still apply."""
    state = ShardState()

    def broken_lookup(client_id, sequence):
        raise KeyError(client_id)

    monkeypatch.setattr(state.sessions, "lookup", broken_lookup)
    outcome = state.apply(
        _entry(_request([b"SET", b"a", b"1"], [b"GET", b"a"], sequence=3), _request([b"PING"]))
    )
    failed = resp.encode(resp.Error(b"ERR internal error in 'set': KeyError"))
    assert outcome.results[0].replies == [failed, failed]
    assert len(outcome.results) == 2


@pytest.mark.parametrize("local", [MemoryError, RecursionError])
def test_local_resource_failures_escape(monkeypatch, local):
    def exhausted(db, args):
        raise local()

    monkeypatch.setitem(registry.IMPLEMENTATIONS, "getdel", exhausted)
    with pytest.raises(local):
        ShardState().apply(_entry(_request([b"GETDEL", b"k"])))


def test_the_internal_error_text_is_one_clean_line():
    from node.engine.errors import internal_error

    text = internal_error(b"GE\r\nT'\x00" + b"x" * 200, ValueError("at 0x7f00"))
    assert b"\r" not in text and b"\n" not in text and b"0x7f" not in text
    assert text.startswith(b"ERR internal error in 'ge??t??")
    assert text.endswith(b"': ValueError")


HUGE_LIST = (
    bytes((entry_codec.ENTRY_VERSION,)) + b"[" + (0x1B000000).to_bytes(4, "little") + b"\x02"
)


@pytest.mark.parametrize(
    "data",
    [
        HUGE_LIST,  # found by the simulation: 452 million items claimed in 6 bytes
        bytes((1,)) + b"(\xff\xff\xff\x7fN",
        bytes((1,)) + b"l\xff\xff\xff\x7f\x01\x00",
        bytes((1,)) + b")\x05\xe9\x01\x00\x00\x00\xdb\x00\x00\x00\x40N",
    ],
)
def test_a_malformed_count_allocates_nothing_for_it(data):
    """marshal allocates the items a list, tuple or integer claims before reading them: a
    malformed entry claiming billions cost seconds and gigabytes on every replica (or a
    MemoryError, which stops it)."""
    tracemalloc.start()
    try:
        with pytest.raises(EntryFormatError):
            entry_codec.decode(data)
        outcome = ShardState().apply(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 1024 * 1024
    assert outcome.results == []


_payload = st.binary(max_size=12) | st.sampled_from([b"[\x00\x00\x00\x01", b"l\xff\xff\xff\xff"])


@settings(max_examples=300, deadline=None)
@given(
    requests=st.lists(
        st.builds(
            Request,
            st.integers(0, 2**64 - 1),
            st.integers(0, 2**64 - 1),
            st.integers(0, 2**64 - 1),
            st.integers(0, 1),
            st.booleans(),
            st.lists(st.lists(_payload, max_size=4), max_size=3),
            st.lists(st.tuples(_payload, _payload), max_size=2),
            caller=st.sampled_from([b"", b"[]"]),
            db=st.integers(0, 15),
        ),
        max_size=3,
    ),
    keys=st.lists(_payload, max_size=3),
    time_ms=st.integers(0, 2**63 - 1),
    seed=st.integers(0, 2**64 - 1),
)
def test_every_well_formed_entry_decodes(requests, keys, time_ms, seed):
    """Payload bytes that look like a huge count only send an entry through the careful
    check, which passes it."""
    entry = ShardEntry(time_ms, seed, requests, keys, keys[:1])
    data = entry_codec.encode(entry)
    assert entry_codec.counts_fit(data[1:])
    assert entry_codec.decode(data) == entry

"""The cross-shard messages and state to bytes and back (node/xshard/codec.py): every
request, reply and snapshot comes back equal; any bytes decode or raise CodecError."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.xshard.codec import (
    CodecError,
    decode_reply,
    decode_request,
    encode_reply,
    encode_request,
    restore,
    snapshot,
)
from node.xshard.scratch import Program
from node.xshard.state import ShardTxnState
from proto.xshard_messages import (
    Abort,
    Commit,
    Decide,
    Decision,
    Executed,
    Failed,
    Finished,
    Forget,
    Mode,
    Prepare,
    Prepared,
    Refused,
    RefusedReason,
    Release,
    Reply,
    Request,
    Resolve,
    Value,
)

txns = st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
shards = st.integers(0, 2**32 - 1)
keys = st.binary(max_size=6)
values = st.one_of(st.none(), st.binary(max_size=6))
modes = st.sampled_from(list(Mode))
programs = st.builds(
    Program,
    st.lists(st.lists(st.binary(max_size=4), max_size=3).map(tuple), max_size=3).map(tuple),
    st.booleans(),
    st.lists(st.tuples(keys, st.binary(max_size=16)), max_size=2).map(tuple),
    st.integers(0, 2**64 - 1),
    st.booleans(),
)
requests: st.SearchStrategy[Request] = st.one_of(
    st.builds(
        Prepare,
        txns,
        shards,
        st.lists(shards, max_size=3).map(tuple),
        st.lists(st.tuples(keys, modes), max_size=3).map(tuple),
        st.booleans(),
    ),
    st.builds(
        Decide,
        txns,
        st.lists(st.tuples(shards, keys, modes, values), max_size=3).map(tuple),
        programs,
        st.lists(st.tuples(shards, st.integers(0, 2**64 - 1)), max_size=2).map(tuple),
    ),
    st.builds(Resolve, txns, st.one_of(st.none(), shards)),
    st.builds(
        Commit,
        txns,
        st.lists(st.tuples(keys, values), max_size=3).map(tuple),
        st.integers(0, 2**64 - 1),
    ),
    st.builds(Abort, txns),
    st.builds(Release, txns),
    st.builds(Forget, txns),
)
decisions = st.one_of(
    st.builds(
        Decision,
        txns,
        st.just(True),
        st.lists(st.tuples(shards, keys, values), max_size=3).map(tuple),
        st.binary(max_size=8),
        st.lists(st.tuples(shards, st.integers(0, 2**64 - 1)), max_size=2).map(tuple),
    ),
    st.builds(Decision, txns, st.just(False), st.just(()), st.text(max_size=8)),
)
replies: st.SearchStrategy[Reply] = st.one_of(
    st.builds(
        Prepared,
        txns,
        shards,
        st.lists(st.tuples(keys, values), max_size=3).map(tuple),
        st.integers(0, 2**64 - 1),
    ),
    st.builds(Refused, txns, shards, st.sampled_from(list(RefusedReason))),
    decisions,
    st.builds(Finished, txns, shards, st.booleans()),
)


@settings(max_examples=150, deadline=None)
@given(requests)
def test_requests_round_trip(request: Request) -> None:
    assert decode_request(encode_request(request)) == request


@settings(max_examples=150, deadline=None)
@given(replies)
def test_replies_round_trip(reply: Reply) -> None:
    assert decode_reply(encode_reply(reply)) == reply


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40))
def test_any_bytes_decode_or_raise_codec_error(data: bytes) -> None:
    for decode in (decode_request, decode_reply):
        with contextlib.suppress(CodecError):
            decode(data)


class Store(dict[bytes, Value]):
    def get(self, key: bytes) -> Value:  # type: ignore[override]
        return super().get(key)

    def put(self, key: bytes, value: Value) -> None:
        self[key] = value


def touch(program: object, inputs: dict[bytes, Value], now: int) -> Executed | Failed:
    return Executed(dict.fromkeys(inputs, b"v"), b"+OK\r\n")


def test_a_snapshot_restores_prepared_transactions_locks_and_records() -> None:
    state = ShardTxnState(0, Store(), touch)
    state.apply(Prepare((1, 1), 0, (0, 1), ((b"a", Mode.WRITE),), False), 1)
    state.apply(Prepare((2, 1), 0, (0,), ((b"b", Mode.READ),), True), 2)
    state.apply(Prepare((3, 1), 1, (0, 1), ((b"c", Mode.WRITE),), False), 3)
    state.apply(Prepare((4, 1), 0, (0, 1), ((b"d", Mode.WRITE),), False), 4)
    program = Program(((b"GET", b"d"),))
    decision = state.apply(Decide((4, 1), ((0, b"d", Mode.WRITE, None),), program, ((0, 4),)), 5)
    assert isinstance(decision, Decision) and decision.committed
    state.apply(Resolve((5, 1), 1), 6)
    data = snapshot(state)
    copy = ShardTxnState(0, Store(), touch)
    copy.apply(Prepare((9, 9), 0, (0,), ((b"z", Mode.WRITE),), False), 0)
    restore(copy, data)
    assert copy.prepared == state.prepared and copy.records == state.records
    assert copy.locks.held() == state.locks.held() == [b"a", b"b", b"c"]
    assert copy.blocks([b"a"], write=False) and not copy.blocks([b"z"], write=True)
    assert snapshot(copy) == data and copy.numbered == state.numbered == 5


def test_a_snapshot_with_conflicting_locks_is_refused_and_changes_nothing() -> None:
    state = ShardTxnState(0, Store(), touch)
    state.apply(Prepare((1, 1), 0, (0,), ((b"a", Mode.WRITE),), False), 1)
    other = ShardTxnState(0, Store(), touch, unsafe=True)
    other.apply(Prepare((2, 1), 0, (0,), ((b"a", Mode.WRITE),), False), 1)
    other.apply(Prepare((3, 1), 0, (0,), ((b"a", Mode.WRITE),), False), 1)
    before = snapshot(state)
    with pytest.raises(CodecError):
        restore(state, snapshot(other))
    assert snapshot(state) == before and state.locks.held() == [b"a"]

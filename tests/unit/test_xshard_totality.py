"""Any sequence of protocol entries, however malformed or out of order (a hostile or buggy
router, duplicates, late copies), applies without raising, and leaves the lock table and
the prepared transactions agreeing; a decided record never changes its decision."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from node.xshard.state import ShardTxnState, XshardConfig
from proto.xshard_messages import (
    Abort,
    Commit,
    Decide,
    Decision,
    Executed,
    Failed,
    Forget,
    Mode,
    Prepare,
    Release,
    Request,
    Resolve,
    Value,
)

KEYS = [b"a", b"b", b"c"]
txns = st.tuples(st.integers(1, 3), st.integers(1, 2))
keys = st.sampled_from(KEYS)
values = st.one_of(st.none(), st.binary(max_size=4))
modes = st.sampled_from(list(Mode))
shards = st.integers(0, 2)

requests: st.SearchStrategy[Request] = st.one_of(
    st.builds(
        Prepare,
        txns,
        shards,
        st.lists(shards, max_size=3).map(tuple),
        st.lists(st.tuples(keys, modes), max_size=4).map(tuple),
        st.booleans(),
    ),
    st.builds(
        Decide,
        txns,
        st.lists(st.tuples(shards, keys, modes, values), max_size=4).map(tuple),
        st.sampled_from(["copy", "fail", "stray", "other"]),
    ),
    st.builds(Resolve, txns, st.one_of(st.none(), shards)),
    st.builds(Commit, txns, st.lists(st.tuples(keys, values), max_size=3).map(tuple)),
    st.builds(Abort, txns),
    st.builds(Release, txns),
    st.builds(Forget, txns),
)


class Store(dict[bytes, Value]):
    def get(self, key: bytes) -> Value:  # type: ignore[override]
        return super().get(key)

    def put(self, key: bytes, value: Value) -> None:
        self[key] = value


def program(name: object, inputs: dict[bytes, Value], now: int) -> Executed | Failed:
    if name == "fail":
        return Failed("ERR no")
    if name == "stray":
        return Executed({b"zz": b"1"}, None)
    if name != "copy":
        return Failed("ERR unknown program")
    return Executed({key: b"v%d" % now for key in inputs}, len(inputs))


def agree(state: ShardTxnState) -> None:
    """Every held lock belongs to a prepared transaction naming the key, and back."""
    expected: set[tuple[bytes, tuple[int, int]]] = set()
    for txn, entry in state.prepared.items():
        for key in entry.keys:
            expected.add((key, txn))
    held = {(key, txn) for key, txn in state.locks._exclusive.items()}
    for key, readers in state.locks._shared.items():
        held |= {(key, txn) for txn in readers}
        assert readers, key
        assert key not in state.locks._exclusive, key
    assert held == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(requests, max_size=30))
def test_any_sequence_applies(sequence: list[Request]) -> None:
    state = ShardTxnState(0, Store(), program, XshardConfig(lock_timeout=5, max_keys=3))
    decided: dict[tuple[int, int], Decision] = {}
    for now, request in enumerate(sequence):
        state.apply(request, now)
        state.due(now)
        agree(state)
        for txn, record in state.records.items():
            if record.decision is not None:
                assert decided.setdefault(txn, record.decision) == record.decision
        for txn in list(decided):
            if txn not in state.records:
                del decided[txn]  # forgotten: a new record may be made later

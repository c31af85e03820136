"""Hypothesis strategies for WAL workloads that a Raft group could really write."""

from __future__ import annotations

from hypothesis import strategies as st

from node.raft.types import ConfState, Entry, EntryType, HardState, SnapshotMeta
from node.storage.records import (
    EntriesRecord,
    HardStateRecord,
    Record,
    SnapshotRecord,
    TruncateRecord,
    snapshot_records,
)
from tests.storage.support import ModelGroup

OPERATIONS = ["append", "append", "append", "overwrite", "hard", "compact", "install", "truncate"]

entry_types = st.sampled_from(list(EntryType))
payloads = st.binary(max_size=40)
conf_states = st.builds(
    ConfState,
    voters=st.lists(st.integers(1, 2**63), max_size=5).map(tuple),
    learners=st.lists(st.integers(1, 2**63), max_size=3).map(tuple),
)


def any_record() -> st.SearchStrategy[Record]:
    """Any single record, not necessarily a plausible one (for codec tests)."""
    group = st.integers(0, 2**64 - 1)
    index = st.integers(1, 2**62)
    term = st.integers(0, 2**64 - 1)
    entry_lists = st.tuples(
        index, st.lists(st.tuples(term, entry_types, payloads), min_size=1)
    ).map(
        lambda pair: [
            Entry(index=pair[0] + n, term=t, type=k, data=d) for n, (t, k, d) in enumerate(pair[1])
        ]
    )
    return st.one_of(
        st.builds(EntriesRecord, group, entry_lists),
        st.builds(HardStateRecord, group, st.builds(HardState, term, term, index)),
        st.builds(SnapshotRecord, group, st.builds(SnapshotMeta, index, term, conf_states)),
        st.builds(TruncateRecord, group, index),
    )


def _term(model: ModelGroup) -> int:
    terms = [model.hard_state.term, *(e.term for e in model.entries[-1:])]
    if model.snapshot:
        terms.append(model.snapshot.term)
    return max(terms)


def draw_batch(data: st.DataObject, model: dict[int, ModelGroup], groups: int) -> list[Record]:
    """A batch of records of random groups, each plausible given what came before it."""
    shadow = {g: m.copy() for g, m in model.items()}
    batch: list[Record] = []
    for _ in range(data.draw(st.integers(1, 6), label="batch length")):
        group = data.draw(st.integers(0, groups - 1), label="group")
        state = shadow.setdefault(group, ModelGroup())
        new = _operation(data, group, state)
        for record in new:
            state.apply(record)
        batch += new
    return batch


def _operation(data: st.DataObject, group: int, state: ModelGroup) -> list[Record]:
    operation = data.draw(st.sampled_from(OPERATIONS), label="operation")
    last = state.last_index()
    covered = state.snapshot.index if state.snapshot else 0
    term = _term(state)
    if operation in ("overwrite", "compact", "truncate") and last == covered:
        operation = "append"
    if operation == "append":
        return [EntriesRecord(group, _entries(data, last + 1, max(term, 1)))]
    if operation == "overwrite":
        start = data.draw(st.integers(covered + 1, last), label="overwrite at")
        return [EntriesRecord(group, _entries(data, start, term + 1))]
    if operation == "hard":
        hard = HardState(
            term=term + data.draw(st.integers(0, 1)),
            vote=data.draw(st.integers(0, 3)),
            commit=data.draw(st.integers(0, last)),
        )
        return [HardStateRecord(group, hard)]
    if operation == "compact":
        index = data.draw(st.integers(covered + 1, last), label="compact at")
        conf = data.draw(conf_states)
        return [SnapshotRecord(group, SnapshotMeta(index, state.term_at(index), conf))]
    if operation == "install":
        index = data.draw(st.integers(covered + 1, last + 10), label="install at")
        meta = SnapshotMeta(index, term + 1, data.draw(conf_states))
        return snapshot_records(group, meta, replaces_log=True)
    index = data.draw(st.integers(covered + 1, last), label="truncate at")
    return [TruncateRecord(group, index)]


def _entries(data: st.DataObject, first: int, term: int) -> list[Entry]:
    count = data.draw(st.integers(1, 4), label="entries")
    return [
        Entry(index=first + n, term=term, type=data.draw(entry_types), data=data.draw(payloads))
        for n in range(count)
    ]

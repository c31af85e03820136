"""The copy of a slot move, against random writes: whatever the source's clients do while
the range is copied the first time (writes, deletions, expiries, FLUSHALL), copying it in
chunks under TRACK, fencing, then copying the noted keys again leaves the target with
exactly the source's keys of the range (values and TTLs), and writes after the fence are
refused (node/slot_entries.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from node import entry_codec, slot_entries
from node.entry_codec import Request, ShardEntry
from node.shard_state import ShardState
from node.slot_entries import MOVING_REPLY, SlotEntry
from proto.slots import key_slot

RANGE = (0, 1)
# Keys in slots 0 and 1 (the range) and in slot 2 (outside it).
KEYS = [key for key in (b"k%d" % n for n in range(200_000)) if key_slot(key) <= 2][:9]
NOW = 1_000_000

operation = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(KEYS), st.binary(max_size=4)),
    st.tuples(st.just("del"), st.sampled_from(KEYS), st.just(b"")),
    st.tuples(st.just("rpush"), st.sampled_from(KEYS), st.binary(min_size=1, max_size=3)),
    st.tuples(st.just("expire"), st.sampled_from(KEYS), st.sampled_from([b"1", b"100000"])),
    st.tuples(st.just("purge"), st.sampled_from(KEYS), st.just(b"")),
    st.tuples(st.just("flushall"), st.just(b""), st.just(b"")),
)


def command(op: tuple[str, bytes, bytes]) -> list[bytes]:
    name, key, arg = op
    return {
        "set": [b"SET", key, arg],
        "del": [b"DEL", key],
        "rpush": [b"RPUSH", key, arg],
        "expire": [b"PEXPIRE", key, arg],
        "flushall": [b"FLUSHALL"],
        "purge": [b"GET", key],
    }[name]


class Source:
    def __init__(self) -> None:
        self.state = ShardState()
        self.state.slots.start(((0, 5460),))
        self.sequence = 0
        self.clock = NOW

    def run(self, op: tuple[str, bytes, bytes]) -> list[bytes] | None:
        self.sequence += 1
        self.clock += 7
        if op[0] == "purge":  # the leader's active expiry of a key, if it is due
            entry = ShardEntry(self.clock, 1, [], [op[1]], [])
            self.state.apply(entry_codec.encode(entry))
            return None
        request = Request(9, self.sequence, self.sequence, 0, False, [command(op)], [])
        entry = ShardEntry(self.clock, 1, [request], [], [])
        return self.state.apply(entry_codec.encode(entry)).results[0].replies


def slot_entry(op: int, items: list | None = None) -> bytes:
    return slot_entries.encode(SlotEntry(NOW, op, b"m", *RANGE, items or []))


def view(state: ShardState, now: int) -> dict[bytes, tuple[object, int | None]]:
    db = state.engine.db
    out: dict[bytes, tuple[object, int | None]] = {}
    for key, value in db.data.items():
        expires = db.expires.get(key)
        if key_slot(key) <= RANGE[1] and (expires is None or expires > now):
            shown = bytes(value) if isinstance(value, (bytes, bytearray)) else list(value)
            out[key] = (shown, expires)
    return out


@settings(max_examples=40, deadline=None)
@given(
    before=st.lists(operation, max_size=12),
    during=st.lists(st.lists(operation, max_size=4), min_size=1, max_size=5),
    after=st.lists(operation, max_size=6),
    chunk=st.integers(min_value=1, max_value=4),
)
def test_the_target_ends_with_the_sources_range(
    before: list, during: list, after: list, chunk: int
) -> None:
    source = Source()
    for op in before:
        source.run(op)
    target = ShardState()
    target.slots.start(((5461, 10922),))
    source.state.apply(slot_entry(slot_entries.TRACK))
    target.apply(slot_entry(slot_entries.CLEAR))
    db = source.state.engine.db
    listed = sorted(key for key in db.data if key_slot(key) <= RANGE[1])
    # The first copy, in chunks, with the clients' writes between them.
    for start in range(0, max(len(listed), 1), chunk):
        for op in (
            during[min(start // chunk, len(during) - 1)] if start // chunk < len(during) else []
        ):
            source.run(op)
        records = [slot_entries.export_record(db, key) for key in listed[start : start + chunk]]
        target.apply(slot_entry(slot_entries.IMPORT, [r for r in records if r is not None]))
    for ops in during[len(range(0, max(len(listed), 1), chunk)) :]:
        for op in ops:
            source.run(op)
    source.state.apply(slot_entry(slot_entries.FENCE))
    frozen = view(source.state, source.clock)
    for op in after:  # refused on the range, served outside it
        replies = source.run(op)
        if replies is not None and op[0] != "flushall" and key_slot(op[1]) <= RANGE[1]:
            assert replies == [MOVING_REPLY]
    second = [
        slot_entries.export_record(db, key) or (key, slot_entries.ABSENT, b"", -1)
        for key in sorted(source.state.slots.dirty)
    ]
    target.apply(slot_entry(slot_entries.IMPORT, second))
    target.apply(slot_entry(slot_entries.ACTIVATE))
    if not any(op[0] == "flushall" for op in after):  # FLUSHALL empties the range too
        assert view(source.state, source.clock) == frozen
    assert view(target, source.clock) == view(source.state, source.clock)

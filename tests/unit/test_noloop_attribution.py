"""Client tracking's NOLOOP on a shard leader: the keys of the requests sent by a NOLOOP
client are kept apart when the entry applies (the state is the same either way), and
published as that client's only when no other request of the entry changed them."""

from __future__ import annotations

from node import entry_codec
from node.replica import ShardReplica
from node.shard_state import EntryResult, ShardState


def entry(*commands: list[bytes]) -> bytes:
    requests = [
        entry_codec.Request(0, 0, 0, entry_codec.COMMANDS, False, [command], [])
        for command in commands
    ]
    return entry_codec.encode(entry_codec.ShardEntry(1_000, 7, requests, [], []))


def test_the_keys_of_requests_kept_apart_and_the_others():
    data = entry([b"SET", b"a", b"1"], [b"SET", b"b", b"1"], [b"DEL", b"a", b"c"])
    plain, apart = ShardState(), ShardState()
    together = plain.apply(data)
    steps = apart.apply_steps(data, {0})
    while True:
        try:
            next(steps)
        except StopIteration as done:
            separated = done.value
            break
    assert together.changed_by == {} and together.shared_keys is None
    assert separated.changed_by == {0: {b"a"}}
    assert separated.shared_keys == {b"a", b"b"}  # DEL a (no c to delete)
    assert separated.changed_keys == together.changed_keys == {b"a", b"b"}
    assert plain.digest() == apart.digest()


def test_a_key_is_a_writer_s_own_only_if_nobody_else_changed_it():
    outcome = EntryResult(
        changed_keys={b"a", b"b", b"c", b"d", b"e"},
        changed_by={0: {b"a"}, 2: {b"c", b"e"}, 3: {b"a", b"d"}},
        shared_keys={b"b", b"e"},
    )
    published: list[tuple[set[bytes], int]] = []
    ShardReplica._publish_changed(
        lambda keys, writer: published.append((set(keys), writer)), outcome, {0: 7, 2: 7, 3: 9}
    )
    assert sorted(published, key=lambda item: item[1]) == [
        ({b"a", b"b", b"e"}, 0),
        ({b"c"}, 7),
        ({b"d"}, 9),
    ]
    published.clear()
    ShardReplica._publish_changed(
        lambda keys, writer: published.append((set(keys), writer)),
        EntryResult(changed_keys={b"x"}),
        {},
    )
    assert published == [({b"x"}, 0)]

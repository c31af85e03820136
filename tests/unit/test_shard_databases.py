"""A shard's databases through its log (node/shard_state.py, node/entry_codec.py): requests
select their database, a cluster SWAPDB's database map entries fence and then swap, the
housekeeping of key spaces other than 0, and the codec of the new fields (a request's
`db`, an entry's `other_spaces`, database map entries), malformed ones included."""

from __future__ import annotations

import marshal
import random
from typing import Any

import pytest

from node import entry_codec, slot_entries
from node.engine.databases import IDENTITY
from node.entry_codec import (
    COMMANDS,
    DB_MAP_VERSION,
    ENTRY_VERSION,
    TRANSACTION,
    DbMapStep,
    EntryFormatError,
    Request,
    ShardEntry,
)
from node.shard_state import MALFORMED_REPLY, EntryResult, ShardState
from node.slot_entries import MOVING_REPLY
from proto import resp

NOW = 1_000_000
CLIENT = 42
SEED = 17

OK = resp.encode(resp.OK)


def bulk(value: bytes | None) -> bytes:
    return resp.encode(value)


def swapped(first: int, second: int, mapping: list[int] | tuple[int, ...] = IDENTITY) -> list[int]:
    result = list(mapping)
    result[first], result[second] = result[second], result[first]
    return result


class Shard:
    """A ShardState fed entries as its log would."""

    def __init__(self) -> None:
        self.state = ShardState()
        self.clock = NOW
        self.sequence = 0

    def tick(self, at: int | None = None) -> int:
        self.clock = max(self.clock + 1, at or 0)
        return self.clock

    def request(
        self,
        db: int,
        *commands: list[bytes],
        kind: int = COMMANDS,
        sequence: int | None = None,
        client: int = CLIENT,
    ) -> EntryResult:
        if sequence is None:
            self.sequence += 1
            sequence = self.sequence
        request = Request(client, sequence, 0, kind, False, list(commands), [], b"", db)
        entry = ShardEntry(self.tick(), SEED, [request], [], [])
        return self.state.apply(entry_codec.encode(entry))

    def replies(self, db: int, *commands: list[bytes], **kwargs: Any) -> list[bytes]:
        result = self.request(db, *commands, **kwargs).results[0]
        assert result.replies is not None
        return result.replies

    def value(self, db: int, key: bytes) -> Any:
        """What database `db` holds under `key`, read straight from the engine."""
        return self.state.engine.databases.database(db).data.get(key)

    def housekeeping(
        self,
        other_spaces: list[tuple[int, list[bytes], list[bytes]]],
        expire: list[bytes] | None = None,
        at: int | None = None,
    ) -> EntryResult:
        entry = ShardEntry(self.tick(at), SEED, [], expire or [], [], None, other_spaces)
        return self.state.apply(entry_codec.encode(entry))

    def step_bytes(self, epoch: int, mapping: Any, fence_epoch: int, fenced: int) -> bytes:
        map_step = DbMapStep(epoch, list(mapping), fence_epoch, fenced)
        return entry_codec.encode(ShardEntry(self.tick(), SEED, [], [], [], db_map=map_step))


def step(shard: Shard, epoch: int, mapping: Any, fence_epoch: int, fenced: int) -> EntryResult:
    """A database map entry (a cluster SWAPDB's step) through the log."""
    return shard.state.apply(shard.step_bytes(epoch, mapping, fence_epoch, fenced))


def with_data() -> Shard:
    shard = Shard()
    for db in (0, 1, 2, 3):
        shard.replies(db, [b"SET", b"k", b"db%d" % db])
    return shard


# ---------------------------------------------------------------------- requests in a database


def test_a_request_on_db_3_acts_on_database_3() -> None:
    shard = Shard()
    assert shard.replies(3, [b"SET", b"k", b"three"], [b"GET", b"k"]) == [OK, bulk(b"three")]
    assert shard.replies(0, [b"GET", b"k"]) == [bulk(None)]
    assert shard.replies(3, [b"INCR", b"n"], [b"DBSIZE"]) == [b":1\r\n", b":2\r\n"]
    assert shard.value(3, b"k") == b"three" and shard.value(0, b"k") is None


def test_requests_of_several_databases_in_one_entry() -> None:
    shard = Shard()
    requests = [
        Request(1, 1, 0, COMMANDS, False, [[b"SET", b"k", b"five"]], [], b"", 5),
        Request(2, 1, 0, COMMANDS, False, [[b"SET", b"k", b"zero"]], [], b"", 0),
        Request(3, 1, 0, COMMANDS, False, [[b"LPUSH", b"l", b"x"]], [], b"", 15),
    ]
    outcome = shard.state.apply(entry_codec.encode(ShardEntry(NOW, SEED, requests, [], [])))
    assert [r.replies for r in outcome.results] == [[OK], [OK], [b":1\r\n"]]
    assert shard.value(5, b"k") == b"five" and shard.value(0, b"k") == b"zero"
    assert shard.value(15, b"l") is not None
    assert outcome.changed_keys == {b"k", b"l"}
    # Between entries the engine is back in database 0.
    engine = shard.state.engine
    assert engine.db is engine.databases.database(0)


def test_a_transaction_request_on_db_3() -> None:
    shard = Shard()
    replies = shard.replies(3, [b"SET", b"a", b"1"], [b"INCR", b"a"], kind=TRANSACTION)
    assert replies == [b"*2\r\n+OK\r\n:2\r\n"]
    assert shard.value(3, b"a") == b"2" and shard.value(0, b"a") is None


def test_a_transaction_with_select_in_the_middle() -> None:
    shard = Shard()
    replies = shard.replies(
        0,
        [b"SET", b"a", b"zero"],
        [b"SELECT", b"7"],
        [b"SET", b"a", b"seven"],
        kind=TRANSACTION,
    )
    assert replies == [b"*3\r\n+OK\r\n+OK\r\n+OK\r\n"]
    assert shard.value(0, b"a") == b"zero" and shard.value(7, b"a") == b"seven"
    engine = shard.state.engine
    assert engine.db is engine.databases.database(0)


def test_a_retry_of_a_request_on_db_3_gets_the_recorded_answer() -> None:
    shard = Shard()
    assert shard.replies(3, [b"INCR", b"n"], sequence=9) == [b":1\r\n"]
    assert shard.replies(3, [b"INCR", b"n"], sequence=9) == [b":1\r\n"]
    assert shard.value(3, b"n") == b"1"


def test_events_of_a_request_on_db_3_name_database_3() -> None:
    shard = Shard()
    shard.state.engine.config.notify_keyspace_events = "K$"
    shard.replies(3, [b"SET", b"k", b"v"])
    shard.replies(0, [b"SET", b"k", b"v"])
    assert shard.state.engine.take_events() == [("$", b"set", b"k", 3), ("$", b"set", b"k")]


# ---------------------------------------------------------------------- database map entries


def test_a_db_map_entry_is_not_taken_for_a_slot_entry() -> None:
    shard = Shard()
    data = shard.step_bytes(0, IDENTITY, 1, 0b110)
    assert data[0] == DB_MAP_VERSION
    assert not slot_entries.is_slot_entry(data)
    outcome = shard.state.apply(data)
    assert outcome.slot_result is None and outcome.databases_changed


def test_a_fenced_database_answers_moving_and_applies_nothing() -> None:
    shard = with_data()
    assert step(shard, 0, IDENTITY, 1, 1 << 1 | 1 << 2).databases_changed
    before = shard.state.engine.snapshot()
    assert shard.replies(1, [b"SET", b"k", b"new"], [b"GET", b"k"]) == [MOVING_REPLY] * 2
    assert shard.replies(2, [b"DEL", b"k"], [b"SET", b"x", b"1"], kind=TRANSACTION) == [
        MOVING_REPLY
    ]
    assert shard.replies(2, [b"GET", b"k"]) == [MOVING_REPLY]  # reads too
    assert shard.state.engine.snapshot() == before
    # Databases outside the fence run.
    assert shard.replies(0, [b"SET", b"k", b"zero!"]) == [OK]
    assert shard.replies(3, [b"GET", b"k"]) == [bulk(b"db3")]
    assert shard.value(0, b"k") == b"zero!"


def test_a_retry_of_a_fenced_request_gets_the_recorded_answer() -> None:
    shard = with_data()
    step(shard, 0, IDENTITY, 1, 0b110)
    assert shard.replies(1, [b"SET", b"k", b"new"], sequence=50) == [MOVING_REPLY]
    step(shard, 1, swapped(1, 2), 0, 0)  # the commit lifts the fence
    # The same sequence is answered from the session table, not run again.
    assert shard.replies(1, [b"SET", b"k", b"new"], sequence=50) == [MOVING_REPLY]
    assert shard.value(1, b"k") == b"db2"
    # The router's resend comes with a new sequence, and runs.
    assert shard.replies(1, [b"SET", b"k", b"new"], sequence=51) == [OK]
    assert shard.value(1, b"k") == b"new" and shard.value(2, b"k") == b"db1"


def test_the_commit_step_swaps_contents_and_lifts_the_fence() -> None:
    shard = with_data()
    step(shard, 0, IDENTITY, 1, 0b110)
    outcome = step(shard, 1, swapped(1, 2), 0, 0)
    assert outcome.databases_changed
    databases = shard.state.engine.databases
    assert (databases.map_epoch, databases.fence_epoch, databases.fenced) == (1, 0, 0)
    assert databases.mapping == swapped(1, 2)
    assert shard.replies(1, [b"GET", b"k"]) == [bulk(b"db2")]
    assert shard.replies(2, [b"GET", b"k"]) == [bulk(b"db1")]
    assert shard.replies(0, [b"GET", b"k"]) == [bulk(b"db0")]
    # Writes after the swap go to the key space the database names now.
    shard.replies(1, [b"SET", b"w", b"1"])
    assert databases.spaces[2].data[b"w"] == b"1"
    stats = shard.state.engine.stats()
    assert (stats["db_map_epoch"], stats["db_fence_epoch"]) == (1, 0)


def test_an_older_step_changes_nothing() -> None:
    shard = with_data()
    assert step(shard, 0, IDENTITY, 1, 0b110).databases_changed
    assert not step(shard, 0, IDENTITY, 1, 0b110).databases_changed  # proposed again
    assert step(shard, 1, swapped(1, 2), 0, 0).databases_changed
    snapshot = shard.state.engine.snapshot()
    # A former leader's steps, applied late: neither the old fence nor the old map return.
    assert not step(shard, 0, IDENTITY, 1, 0b110).databases_changed
    assert not step(shard, 0, IDENTITY, 0, 0).databases_changed
    assert not step(shard, 1, swapped(1, 2), 0, 0).databases_changed
    assert shard.state.engine.snapshot() == snapshot
    assert shard.replies(1, [b"GET", b"k"]) == [bulk(b"db2")]


def test_databases_changed_only_when_the_map_or_fence_changed() -> None:
    shard = Shard()
    assert not shard.request(0, [b"SET", b"k", b"v"]).databases_changed
    assert not shard.housekeeping([(3, [b"k"], [])]).databases_changed
    assert step(shard, 0, IDENTITY, 1, 0b11000).databases_changed
    assert not step(shard, 0, IDENTITY, 1, 0b11000).databases_changed
    assert step(shard, 1, swapped(3, 4), 0, 0).databases_changed
    assert not step(shard, 1, swapped(3, 4), 0, 0).databases_changed
    assert step(shard, 1, swapped(3, 4), 2, 0b11).databases_changed  # the next fence
    assert step(shard, 2, swapped(0, 1, swapped(3, 4)), 0, 0).databases_changed


def test_a_step_that_changes_nothing_on_a_fresh_shard() -> None:
    shard = Shard()
    outcome = step(shard, 0, IDENTITY, 0, 0)
    assert not outcome.databases_changed and outcome.results == []
    assert shard.state.engine.databases.is_plain()


def test_a_commit_step_that_also_fences_the_next_swap() -> None:
    shard = with_data()
    step(shard, 0, IDENTITY, 1, 0b110)
    # The next swap began before this shard's leader proposed the commit of the first.
    step(shard, 1, swapped(1, 2), 2, 0b1001)
    databases = shard.state.engine.databases
    assert (databases.map_epoch, databases.fence_epoch, databases.fenced) == (1, 2, 0b1001)
    assert shard.replies(1, [b"GET", b"k"]) == [bulk(b"db2")]
    assert shard.replies(3, [b"GET", b"k"]) == [MOVING_REPLY]


def test_a_step_jumping_to_a_later_map_lifts_an_older_fence() -> None:
    shard = with_data()
    step(shard, 0, IDENTITY, 1, 0b110)
    step(shard, 2, swapped(1, 3, swapped(1, 2)), 0, 0)
    databases = shard.state.engine.databases
    assert (databases.map_epoch, databases.fenced) == (2, 0)
    assert shard.replies(1, [b"GET", b"k"]) == [bulk(b"db3")]


def test_the_fence_survives_a_snapshot() -> None:
    shard = with_data()
    step(shard, 0, IDENTITY, 1, 0b110)
    copy = Shard()
    copy.state.restore(shard.state.snapshot())
    copy.clock, copy.sequence = shard.clock, shard.sequence
    assert copy.state.digest() == shard.state.digest()
    assert copy.replies(2, [b"GET", b"k"]) == [MOVING_REPLY]
    assert copy.replies(3, [b"GET", b"k"]) == [bulk(b"db3")]


# ---------------------------------------------------------------------- fence holes


def test_a_fence_of_database_0_answers_moving_to_database_0() -> None:
    shard = with_data()
    step(shard, 0, IDENTITY, 1, 0b11)
    assert shard.replies(1, [b"GET", b"k"]) == [MOVING_REPLY]
    assert shard.replies(0, [b"SET", b"k", b"changed"]) == [MOVING_REPLY]
    assert shard.value(0, b"k") == b"db0"


def test_a_transaction_that_selects_a_fenced_database_answers_moving() -> None:
    shard = with_data()
    step(shard, 0, IDENTITY, 1, 0b110)
    replies = shard.replies(0, [b"SELECT", b"1"], [b"SET", b"k", b"changed"], kind=TRANSACTION)
    assert replies == [MOVING_REPLY]
    assert shard.value(1, b"k") == b"db1"


@pytest.mark.parametrize(
    "command",
    [[b"MOVE", b"fresh", b"1"], [b"COPY", b"fresh", b"fresh", b"DB", b"2"]],
    ids=["move", "copy"],
)
def test_a_command_writing_a_fenced_database_answers_moving(command: list[bytes]) -> None:
    shard = with_data()
    shard.replies(0, [b"SET", b"fresh", b"v"])
    step(shard, 0, IDENTITY, 1, 0b110)
    assert shard.replies(0, command) == [MOVING_REPLY]
    assert shard.value(1, b"fresh") is None and shard.value(2, b"fresh") is None


# ---------------------------------------------------------------------- housekeeping


def test_other_spaces_expiry_removes_keys_of_that_key_space() -> None:
    shard = Shard()
    shard.replies(3, [b"SET", b"k", b"v", b"PX", b"100"])
    shard.replies(3, [b"SET", b"later", b"v", b"PX", b"100000"])
    shard.replies(0, [b"SET", b"k", b"zero", b"PX", b"100"])
    outcome = shard.housekeeping([(3, [b"k", b"later"], [])], at=NOW + 1000)
    assert shard.value(3, b"k") is None
    assert shard.value(3, b"later") == b"v"  # not expired yet: kept
    assert shard.value(0, b"k") == b"zero"  # key space 0 is not named
    assert outcome.housekeeping_keys == [(3, b"k"), (3, b"later")]
    assert b"k" in outcome.changed_keys
    assert shard.state.engine.stats()["expired_keys"] == 1


def test_other_spaces_eviction_removes_keys_of_that_key_space() -> None:
    shard = Shard()
    shard.state.engine.config.notify_keyspace_events = "KEe"
    shard.replies(3, [b"SET", b"k", b"v"])
    shard.replies(0, [b"SET", b"k", b"zero"])
    shard.state.engine.take_events()
    outcome = shard.housekeeping([(3, [], [b"k", b"missing"])])
    assert shard.value(3, b"k") is None and shard.value(0, b"k") == b"zero"
    assert shard.state.engine.stats()["evicted_keys"] == 1
    assert outcome.housekeeping_keys == [(3, b"k"), (3, b"missing")]
    assert shard.state.engine.take_events() == [("e", b"evicted", b"k", 3)]


def test_housekeeping_of_key_space_0_and_others_in_one_entry() -> None:
    shard = Shard()
    shard.replies(0, [b"SET", b"a", b"v", b"PX", b"10"])
    shard.replies(9, [b"SET", b"b", b"v", b"PX", b"10"])
    shard.replies(9, [b"SET", b"c", b"v"])
    outcome = shard.housekeeping([(9, [b"b"], [b"c"])], expire=[b"a"], at=NOW + 100)
    assert shard.state.engine.key_count() == 0
    assert outcome.housekeeping_keys == [b"a", (9, b"b"), (9, b"c")]
    assert outcome.changed_keys == {b"a", b"b", b"c"}
    engine = shard.state.engine
    assert engine.db is engine.databases.database(0)


def test_housekeeping_names_key_space_ids_not_database_indexes() -> None:
    shard = Shard()
    shard.replies(3, [b"SET", b"k", b"three", b"PX", b"10"])
    shard.replies(7, [b"SET", b"k", b"seven", b"PX", b"10"])
    step(shard, 1, swapped(3, 7), 0, 0)
    # Key space 3 holds database 7 now.
    shard.housekeeping([(3, [b"k"], [])], at=NOW + 100)
    assert shard.value(7, b"k") is None
    assert shard.value(3, b"k") == b"seven"


def test_expiry_of_a_key_space_never_used_changes_no_key() -> None:
    shard = Shard()
    shard.replies(0, [b"SET", b"k", b"v"])
    outcome = shard.housekeeping([(12, [b"k"], [b"k"])])
    assert shard.value(0, b"k") == b"v"
    assert shard.state.engine.key_count() == 1
    assert outcome.changed_keys == set()


# ---------------------------------------------------------------------- digest


def test_replicas_applying_the_same_entries_have_the_same_digest() -> None:
    first, second = Shard(), Shard()
    for shard in (first, second):
        shard.replies(0, [b"SET", b"a", b"1"])
        shard.replies(4, [b"SADD", b"s", b"x", b"y"])
        shard.replies(4, [b"MOVE", b"s", b"9"])
        step(shard, 0, IDENTITY, 1, 0b110)
    assert first.state.digest() == second.state.digest()
    first.replies(9, [b"SADD", b"s", b"z"])
    assert first.state.digest() != second.state.digest()


def test_the_digest_covers_leases_of_every_database() -> None:
    with_lease, without = Shard(), Shard()
    for shard in (with_lease, without):
        shard.replies(3, [b"SET", b"x", b"1"])
    # Unrecorded requests (sequence 0), so that the session tables stay equal.
    reply = with_lease.replies(3, [b"LEASE.GET", b"k", b"10000"], sequence=0)
    assert reply[0].startswith(b"*3\r\n$5\r\nLEASE")
    assert without.replies(3, [b"GET", b"k"], sequence=0) == [bulk(None)]
    assert with_lease.state.engine.databases.database(3).leases.records
    assert with_lease.state.clock_ms == without.state.clock_ms
    assert with_lease.state.digest() != without.state.digest()


def test_a_read_of_an_untouched_database_leaves_the_digest_unchanged() -> None:
    reader, other = Shard(), Shard()
    for shard in (reader, other):
        shard.replies(0, [b"SET", b"k", b"v"])
    engine = reader.state.engine
    engine.select_for_read(5)  # as node/replica.py serves a read outside the log
    assert engine.execute_readonly([b"GET", b"k"], NOW, random.Random(0)) is None
    engine.select(0)
    assert reader.state.digest() == other.state.digest()
    assert reader.state.snapshot() == other.state.snapshot()


# ---------------------------------------------------------------------- codec


def stored_fields(data: bytes) -> tuple[Any, ...]:
    return marshal.loads(data[1:])


@pytest.mark.parametrize(
    ("db", "caller", "fields"),
    [(0, b"", 7), (0, b"+@all", 8), (3, b"", 9), (15, b"", 9), (15, b"+get ~*", 9)],
)
def test_a_requests_db_round_trips(db: int, caller: bytes, fields: int) -> None:
    request = Request(1, 2, 1, COMMANDS, True, [[b"GET", b"k"]], [(b"w", b"d")], caller, db)
    data = entry_codec.encode(ShardEntry(NOW, SEED, [request], [], []))
    assert len(stored_fields(data)[2][0]) == fields
    decoded_entry = entry_codec.decode(data)
    assert decoded_entry.requests == [request]
    assert decoded_entry.requests[0].db == db


def test_other_spaces_round_trip() -> None:
    other = [(3, [b"a", b"b"], []), (15, [], [b"c"]), (1, [b"d"], [b"e"])]
    entry = ShardEntry(NOW, SEED, [], [b"x"], [b"y"], None, other)
    data = entry_codec.encode(entry)
    assert len(stored_fields(data)) == 6
    assert entry_codec.decode(data) == entry


@pytest.mark.parametrize("other", [None, []])
def test_an_entry_without_other_spaces_keeps_five_fields(other: Any) -> None:
    data = entry_codec.encode(ShardEntry(NOW, SEED, [], [b"x"], [], None, other))
    assert data[0] == ENTRY_VERSION and len(stored_fields(data)) == 5
    assert entry_codec.decode(data).other_spaces is None


@pytest.mark.parametrize(
    "map_step",
    [
        DbMapStep(0, list(IDENTITY), 0, 0),
        DbMapStep(7, swapped(0, 15), 8, 1 | 1 << 15),
        DbMapStep((1 << 63) - 1, list(reversed(IDENTITY)), 0, (1 << 16) - 1),
    ],
)
def test_a_db_map_entry_round_trips(map_step: DbMapStep) -> None:
    entry = ShardEntry(NOW, SEED, [], [], [], db_map=map_step)
    data = entry_codec.encode(entry)
    assert data[0] == DB_MAP_VERSION
    back = entry_codec.decode(data)
    assert back.db_map == map_step and back.requests == [] and back.settings is None


def request_with(db: Any) -> Request:
    return Request(1, 1, 0, COMMANDS, False, [[b"SET", b"k", b"v"]], [], b"", db)


def map_entry(epoch: Any, mapping: Any, fence_epoch: Any, fenced: Any) -> bytes:
    body = (NOW, SEED, epoch, mapping, fence_epoch, fenced)
    return bytes((DB_MAP_VERSION,)) + marshal.dumps(body, 4)


NOT_A_PERMUTATION = [0] * 16
WITH_A_BOOL = swapped(0, 0)
WITH_A_BOOL[1] = True

MALFORMED_REQUESTS = {
    "db 16": ShardEntry(NOW, SEED, [request_with(16)], [], []),
    "db -1": ShardEntry(NOW, SEED, [request_with(-1)], [], []),
    "db 99": ShardEntry(NOW, SEED, [request_with(99)], [], []),
    "db True": ShardEntry(NOW, SEED, [request_with(True)], [], []),
    "db bytes": ShardEntry(NOW, SEED, [request_with(b"3")], [], []),
}
MALFORMED_OTHER_SPACES = {
    "space 0": ShardEntry(NOW, SEED, [], [], [], None, [(0, [b"k"], [])]),
    "space 16": ShardEntry(NOW, SEED, [], [], [], None, [(16, [b"k"], [])]),
    "space -1": ShardEntry(NOW, SEED, [], [], [], None, [(-1, [], [b"k"])]),
    "space str": ShardEntry(NOW, SEED, [], [], [], None, [("3", [b"k"], [])]),  # type: ignore[list-item]
    "keys not bytes": ShardEntry(NOW, SEED, [], [], [], None, [(3, ["k"], [])]),  # type: ignore[list-item]
    "17 items": ShardEntry(NOW, SEED, [], [], [], None, [(3, [b"k"], [])] * 17),
}
MALFORMED_MAPS = {
    "not a permutation": map_entry(1, NOT_A_PERMUTATION, 0, 0),
    "15 entries": map_entry(1, list(range(15)), 0, 0),
    "17 entries": map_entry(1, [*range(16), 0], 0, 0),
    "contains 16": map_entry(1, [*range(1, 17)], 0, 0),
    "a bool in the map": map_entry(1, WITH_A_BOOL, 0, 0),
    "fenced 1 << 16": map_entry(1, list(IDENTITY), 2, 1 << 16),
    "fenced -1": map_entry(1, list(IDENTITY), 2, -1),
    "epoch -1": map_entry(-1, list(IDENTITY), 0, 0),
    "fence epoch str": map_entry(1, list(IDENTITY), "2", 0b11),
    "five fields": bytes((DB_MAP_VERSION,)) + marshal.dumps((NOW, SEED, 1, list(IDENTITY), 0), 4),
    "not marshal": bytes((DB_MAP_VERSION,)) + b"\xff\x00",
}


def encoded_malformed() -> list[Any]:
    cases = [
        pytest.param(entry_codec.encode(entry), 1 if name.startswith("db") else 0, id=name)
        for name, entry in {**MALFORMED_REQUESTS, **MALFORMED_OTHER_SPACES}.items()
    ]
    cases += [pytest.param(data, 0, id=name) for name, data in MALFORMED_MAPS.items()]
    return cases


@pytest.mark.parametrize(("data", "requests"), encoded_malformed())
def test_a_malformed_entry_is_refused_by_the_codec(data: bytes, requests: int) -> None:
    with pytest.raises(EntryFormatError):
        entry_codec.decode(data)


def test_the_largest_fenced_mask_decodes_and_one_more_does_not() -> None:
    """The fenced mask's bound: the largest mask decodes, one more does not."""
    largest = map_entry(1, list(IDENTITY), 2, (1 << 16) - 1)
    assert entry_codec.decode(largest).db_map == DbMapStep(1, list(IDENTITY), 2, (1 << 16) - 1)
    with pytest.raises(EntryFormatError):
        entry_codec.decode(map_entry(1, list(IDENTITY), 2, 1 << 16))


@pytest.mark.parametrize(("data", "requests"), encoded_malformed())
def test_shard_state_applies_a_malformed_entry_as_a_no_op(data: bytes, requests: int) -> None:
    shard = with_data()
    step(shard, 0, IDENTITY, 1, 0b1000)
    snapshot, digest = shard.state.snapshot(), shard.state.digest()
    outcome = shard.state.apply(data)
    assert [r.replies for r in outcome.results] == [[MALFORMED_REPLY]] * requests
    assert not outcome.databases_changed
    assert shard.state.snapshot() == snapshot and shard.state.digest() == digest
    assert shard.replies(0, [b"GET", b"k"]) == [bulk(b"db0")]  # the shard goes on

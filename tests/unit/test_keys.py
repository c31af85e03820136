"""Generic key-space commands: error texts, option combinations, expiry edge cases, SCAN."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.engine import scan as scan_module
from node.engine.engine import Engine
from node.engine.keyspace import Container
from node.engine.scan import (
    CURSOR_BITS,
    ScanIndex,
    parse_cursor,
    parse_scan_options,
    scan_page,
)
from node.engine.t_keys import string_encoding
from proto.commands import TABLE, Route
from proto.resp import OK, Error, Reply, Simple
from tests.differential.harness import RawRedis

NOW = 1_700_000_000_000


class Node:
    """An engine with a hand-driven clock."""

    def __init__(self) -> None:
        self.engine = Engine()
        self.now = NOW
        self.rng = random.Random(7)

    def __call__(self, *args: bytes | str | int) -> Reply:
        return self.engine.execute(_args(args), self.now, self.rng)

    def read(self, *args: bytes | str | int) -> Reply:
        """On the read-only path (lease reads, followers): nothing is deleted."""
        return self.engine.execute_readonly(_args(args), self.now, self.rng)

    @property
    def stored(self) -> set[bytes]:
        return set(self.engine.db.data)


def _args(args: tuple) -> list[bytes]:
    return [a if isinstance(a, bytes) else str(a).encode() for a in args]


@pytest.fixture
def node() -> Node:
    return Node()


def error(text: str) -> Error:
    return Error(text.encode())


# ---------------------------------------------------------------------- command table


def test_routes_and_keys_in_the_table():
    for name in ("del", "unlink", "exists", "touch"):
        assert TABLE[name].route is Route.SPLIT
        assert TABLE[name].key_positions([b"x", b"a", b"b", b"c"]) == [1, 2, 3]
    for name in ("dbsize", "keys", "scan", "randomkey", "flushdb", "flushall"):
        assert TABLE[name].route is Route.ALL_SHARDS
    for name in ("rename", "renamenx", "copy"):
        assert TABLE[name].route is Route.KEYED
        assert TABLE[name].key_positions([b"x", b"a", b"b", b"REPLACE"]) == [1, 2]
    encoding = TABLE["object"].subcommands["encoding"]
    assert encoding.name == "object|encoding"
    assert encoding.key_positions([b"OBJECT", b"ENCODING", b"k"]) == [2]
    assert not TABLE["scan"].is_write and TABLE["expire"].is_write


# ---------------------------------------------------------------------- DEL EXISTS TYPE


def test_del_counts_each_deleted_key_once(node):
    node("SET", "a", "1")
    node("SET", "b", "2")
    assert node("DEL", "a", "a", "b", "missing") == 2
    assert node("UNLINK", "a") == 0
    assert node.stored == set()


def test_exists_and_touch_count_repeats(node):
    node("SET", "a", "1")
    assert node("EXISTS", "a", "a", "b") == 2
    assert node("TOUCH", "a", "b", "a") == 2


def test_an_expired_key_is_gone_for_del_exists_and_type(node):
    node("SET", "a", "1", "PX", "100")
    node.now += 100
    assert node.read("EXISTS", "a") == 0
    assert node.read("TYPE", "a") == Simple(b"none")
    assert node.stored == {b"a"}  # the read-only path deletes nothing
    assert node("DEL", "a") == 0  # removed as expired, not deleted by DEL
    assert node.stored == set()
    assert node.engine.db.expired_keys == 1


def test_type_of_a_string(node):
    node("APPEND", "s", "x")
    assert node("TYPE", "s") == Simple(b"string")
    assert isinstance(node("TYPE", "s"), Simple)


# ---------------------------------------------------------------------- EXPIRE family


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["NX", "XX"], "ERR NX and XX, GT or LT options at the same time are not compatible"),
        (["nx", "gt"], "ERR NX and XX, GT or LT options at the same time are not compatible"),
        (["LT", "NX"], "ERR NX and XX, GT or LT options at the same time are not compatible"),
        (["GT", "LT"], "ERR GT and LT options at the same time are not compatible"),
        (["XX", "FOO"], "ERR Unsupported option FOO"),
        (["foo\x00bar"], "ERR Unsupported option foo"),  # %s stops at the NUL
    ],
)
def test_expire_option_errors(node, options, message):
    node("SET", "k", "v")
    assert node("EXPIRE", "k", "10", *options) == error(message)


def test_option_errors_come_before_the_time_is_parsed(node):
    assert node("PEXPIRE", "k", "abc", "BAD") == error("ERR Unsupported option BAD")
    assert node("PEXPIRE", "k", "abc", "XX") == error("ERR value is not an integer or out of range")


@pytest.mark.parametrize(
    ("command", "value"),
    [
        ("EXPIRE", "9223372036854776"),  # the conversion to ms overflows
        ("EXPIRE", "-9223372036854776"),
        ("EXPIRE", "9223372036854775"),  # converts, but adding now overflows
        ("PEXPIRE", "9223372036854775807"),
        ("EXPIREAT", "9223372036854776"),
    ],
)
def test_invalid_expire_time(node, command, value):
    node("SET", "k", "v")
    name = command.lower()
    assert node(command, "k", value) == error(f"ERR invalid expire time in '{name}' command")
    assert node("TTL", "k") == -1


def test_extreme_expire_times_that_are_valid(node):
    node("SET", "k", "v")
    assert node("EXPIREAT", "k", "9223372036854775") == 1
    assert node("PEXPIRETIME", "k") == 9223372036854775000
    assert node("PEXPIREAT", "k", "9223372036854775807") == 1
    assert node("PEXPIRETIME", "k") == 9223372036854775807


def test_invalid_time_reported_even_for_a_missing_key(node):
    assert node("EXPIRE", "missing", "x") == error("ERR value is not an integer or out of range")
    assert node("EXPIRE", "missing", "9223372036854776") == error(
        "ERR invalid expire time in 'expire' command"
    )
    assert node("EXPIRE", "missing", "10") == 0


@pytest.mark.parametrize(
    ("command", "value"),
    [
        ("EXPIRE", "0"),
        ("EXPIRE", "-1"),
        ("PEXPIRE", "-9223372036854775808"),
        ("EXPIREAT", "1000"),
        ("PEXPIREAT", str(NOW)),  # exactly now is already expired
    ],
)
def test_a_time_in_the_past_deletes_the_key(node, command, value):
    node("SET", "k", "v")
    assert node(command, "k", value) == 1
    assert node.stored == set()
    assert node.engine.db.expired_keys == 0  # deleted by the command, not expired


def test_expire_sets_absolute_times(node):
    node("SET", "k", "v")
    assert node("EXPIRE", "k", "10") == 1
    assert node("PEXPIRETIME", "k") == NOW + 10_000
    assert node("PEXPIRE", "k", "1500") == 1
    assert node("PEXPIRETIME", "k") == NOW + 1500
    assert node("EXPIREAT", "k", str(NOW // 1000 + 60)) == 1
    assert node("EXPIRETIME", "k") == NOW // 1000 + 60


def _set_ttl(node: Node, when: int | None) -> None:
    node("SET", "k", "v")
    if when is not None:
        node("PEXPIREAT", "k", str(when))


LATER = NOW + 50_000


@pytest.mark.parametrize(
    ("current", "flags", "new", "reply"),
    [
        (None, ["NX"], LATER, 1),
        (LATER, ["NX"], LATER + 1, 0),
        (None, ["XX"], LATER, 0),
        (LATER, ["XX"], LATER + 1, 1),
        (LATER, ["GT"], LATER + 1, 1),
        (LATER, ["GT"], LATER, 0),
        (None, ["GT"], LATER, 0),  # no TTL is an infinite TTL: nothing is greater
        (LATER, ["LT"], LATER - 1, 1),
        (LATER, ["LT"], LATER, 0),
        (None, ["LT"], LATER, 1),  # ... and anything is less
        (LATER, ["XX", "GT"], LATER + 5, 1),
        (None, ["XX", "LT"], LATER, 0),
        (LATER, ["gt", "GT"], LATER + 5, 1),  # repeating a flag is fine
    ],
)
def test_expire_conditions(node, current, flags, new, reply):
    _set_ttl(node, current)
    assert node("PEXPIREAT", "k", str(new), *flags) == reply
    expected = new if reply else current
    assert node("PEXPIRETIME", "k") == (-1 if expected is None else expected)


def test_lt_with_a_past_time_deletes(node):
    _set_ttl(node, LATER)
    assert node("EXPIRE", "k", "-5", "LT") == 1
    assert node.stored == set()


def test_ttl_rounding_and_missing_keys(node):
    assert node("TTL", "k") == -2
    assert node("PTTL", "k") == -2
    assert node("EXPIRETIME", "k") == -2
    node("SET", "k", "v")
    assert node("TTL", "k") == -1
    assert node("PEXPIRETIME", "k") == -1
    node("PEXPIRE", "k", "1499")
    assert node("TTL", "k") == 1
    assert node("PTTL", "k") == 1499
    node("PEXPIRE", "k", "1500")
    assert node("TTL", "k") == 2  # (ms + 500) / 1000
    node("PEXPIREAT", "k", str(NOW + 2499))
    assert node("EXPIRETIME", "k") == (NOW + 2499 + 500) // 1000
    node.now = NOW + 2498
    assert node("PTTL", "k") == 1
    assert node("TTL", "k") == 0


def test_persist(node):
    assert node("PERSIST", "k") == 0
    node("SET", "k", "v", "EX", "10")
    assert node("PERSIST", "k") == 1
    assert node("PERSIST", "k") == 0
    assert node("TTL", "k") == -1
    node("PEXPIRE", "k", "10")
    node.now += 10
    assert node("PERSIST", "k") == 0
    assert node.stored == set()


def test_expire_refuses_minus_zero(node):
    node("SET", "k", "v")
    assert node("EXPIRE", "k", "-0") == error("ERR value is not an integer or out of range")


# ---------------------------------------------------------------------- RENAME and COPY


def test_rename(node):
    assert node("RENAME", "a", "b") == error("ERR no such key")
    assert node("RENAME", "a", "a") == error("ERR no such key")
    assert node("RENAMENX", "a", "b") == error("ERR no such key")
    node("SET", "a", "1", "EX", "100")
    node("SET", "b", "2")
    assert node("RENAME", "a", "a") == OK
    assert node("RENAMENX", "a", "a") == 0
    assert node("RENAMENX", "a", "b") == 0
    assert node("RENAME", "a", "b") == OK
    assert node.stored == {b"b"}
    assert node("GET", "b") == b"1"
    assert node("TTL", "b") == 100  # the TTL moves with the value
    node("SET", "c", "3")
    assert node("RENAME", "c", "b") == OK
    assert node("TTL", "b") == -1  # ... and the target's old TTL goes
    assert node("RENAMENX", "b", "d") == 1
    assert node.stored == {b"d"}


def test_rename_onto_an_expired_key(node):
    node("SET", "a", "1")
    node("SET", "b", "2", "PX", "5")
    node.now += 5
    assert node("RENAMENX", "a", "b") == 1
    assert node("GET", "b") == b"1"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["DB", "16"], "ERR DB index is out of range"),
        (["DB", "-1"], "ERR DB index is out of range"),
        (
            ["DB", "2147483648"],
            "ERR value is out of range, value must between -2147483648 and 2147483647",
        ),
        (["DB", "x"], "ERR value is not an integer or out of range"),
        (["DB"], "ERR syntax error"),
        (["REPLACE", "BAD"], "ERR syntax error"),
        (["DB", "3", "BAD"], "ERR syntax error"),  # the syntax is checked before the DB
        (["DB", "99", "BAD"], "ERR DB index is out of range"),  # ... but a bad index at once
    ],
)
def test_copy_errors(node, options, message):
    node("SET", "a", "1")
    assert node("COPY", "a", "b", *options) == error(message)
    assert node.stored == {b"a"}


def test_copy(node):
    assert node("COPY", "a", "a") == error("ERR source and destination objects are the same")
    assert node("COPY", "a", "b") == 0
    node("SET", "a", "1", "EX", "100")
    node("SET", "b", "2")
    assert node("COPY", "a", "a", "DB", "0") == error(
        "ERR source and destination objects are the same"
    )
    assert node("COPY", "a", "b") == 0
    assert node("COPY", "a", "b", "replace", "DB", "0") == 1
    assert node("GET", "b") == b"1"
    assert node("TTL", "b") == 100
    assert node("COPY", "b", "c") == 1
    assert node.stored == {b"a", b"b", b"c"}


def test_copy_of_a_string_changed_in_place_is_independent(node):
    node("APPEND", "a", "xy")
    node("COPY", "a", "b")
    node("APPEND", "a", "z")
    node("SETRANGE", "b", "0", "Q")
    assert (node("GET", "a"), node("GET", "b")) == (b"xyz", b"Qy")
    assert node("OBJECT", "ENCODING", "b") == b"raw"


class FakeList(Container):
    """A stand-in container: COPY must deep-copy through copy() and account its memory."""

    __slots__ = ("items",)
    TYPE_NAME = b"list"

    def __init__(self, items: list[bytes]) -> None:
        super().__init__()
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    @property
    def mem(self) -> int:
        return 10 * len(self.items)

    def encoding(self) -> bytes:
        return b"listpack" if len(self.items) < 3 else b"quicklist"

    def copy(self) -> FakeList:
        return FakeList(list(self.items))


def test_copy_rename_type_and_encoding_of_a_container(node):
    db = node.engine.db
    db.set(b"l", FakeList([b"a", b"b"]))
    one_key = db.used_memory
    assert node("TYPE", "l") == Simple(b"list")
    assert node("OBJECT", "ENCODING", "l") == b"listpack"
    assert node("COPY", "l", "m") == 1
    assert db.data[b"m"].items == [b"a", b"b"]
    assert db.data[b"m"].items is not db.data[b"l"].items
    assert db.used_memory == 2 * one_key
    assert node("RENAME", "m", "n") == OK
    assert db.used_memory == 2 * one_key
    db.data[b"l"].items.append(b"c")
    assert node("OBJECT", "ENCODING", "l") == b"quicklist"
    assert node("OBJECT", "ENCODING", "n") == b"listpack"


# ---------------------------------------------------------------------- OBJECT


@pytest.mark.parametrize(
    ("value", "encoding"),
    [
        (b"0", b"int"),
        (b"-1", b"int"),
        (b"9223372036854775807", b"int"),
        (b"-9223372036854775808", b"int"),  # 20 bytes
        (b"9223372036854775808", b"embstr"),  # out of range
        (b"-0", b"embstr"),
        (b"01", b"embstr"),
        (b"+1", b"embstr"),
        (b"1.0", b"embstr"),
        (b"", b"embstr"),
        (b"x" * 44, b"embstr"),
        (b"x" * 45, b"raw"),
        (bytearray(b"1"), b"raw"),  # changed in place by APPEND/SETRANGE/SETBIT
    ],
)
def test_string_encoding(value, encoding):
    assert string_encoding(value) == encoding


def test_object_encoding_through_commands(node):
    assert node("OBJECT", "ENCODING", "k") is None
    node("SET", "k", "123")
    assert node("OBJECT", "encoding", "k") == b"int"
    node("APPEND", "k", "4")
    assert node("OBJECT", "ENCODING", "k") == b"raw"
    node("INCR", "k")
    assert node("OBJECT", "ENCODING", "k") == b"int"
    node("SETBIT", "k", "0", "1")
    assert node("OBJECT", "ENCODING", "k") == b"raw"


def test_object_errors_and_help(node):
    assert node("OBJECT") == error("ERR wrong number of arguments for 'object' command")
    assert node("OBJECT", "ENCODING") == error(
        "ERR wrong number of arguments for 'object|encoding' command"
    )
    assert node("OBJECT", "HELP", "x") == error(
        "ERR wrong number of arguments for 'object|help' command"
    )
    assert node("OBJECT", "NOPE", "k") == error("ERR unknown subcommand 'NOPE'. Try OBJECT HELP.")
    assert node("OBJECT", "REFCOUNT", "missing") is None
    lines = node("object", "help")
    assert all(type(line) is Simple for line in lines)
    assert lines[0] == b"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert lines[1] == b"ENCODING <key>"
    assert lines[-2:] == [b"HELP", b"    Prints this help."]


def test_object_encoding_matches_redis(redis_port, node):
    """The int/embstr/raw choice for values stored by SET and by APPEND, against Redis
    (the differential test folds int and embstr together because of INCRBYFLOAT)."""
    values = [b"0", b"-0", b"7", b"-12", b"01", b"+1", b" 1", b"1 ", b"1.5", b"", b"x" * 44]
    values += [b"x" * 45, b"9" * 19, b"9" * 20, b"-" + b"9" * 19, b"9223372036854775808"]
    redis = RawRedis(redis_port)
    try:
        redis.call([b"SELECT", b"9"])
        for index, value in enumerate(values):
            for setter in ([b"SET", b"s%d" % index, value], [b"APPEND", b"a%d" % index, value]):
                node(*setter)
                redis.call(setter)
                query = [b"OBJECT", b"ENCODING", setter[1]]
                assert node(*query) == redis.call(query), setter
    finally:
        redis.call([b"FLUSHDB"])
        redis.close()


# ---------------------------------------------------------------------- whole key space


def test_dbsize_counts_expired_keys_until_they_are_removed(node):
    node("SET", "a", "1", "PX", "10")
    node("SET", "b", "2")
    node.now += 10
    assert node("DBSIZE") == 2
    assert sorted(node("KEYS", "*")) == [b"b"]
    assert node("DBSIZE") == 2  # KEYS skips expired keys without deleting them
    assert node("GET", "a") is None
    assert node("DBSIZE") == 1


def test_keys_patterns(node):
    for name in ("user:1", "user:2", "user:10", "session", ""):
        node("SET", name, "v")
    assert sorted(node("KEYS", "user:?")) == [b"user:1", b"user:2"]
    assert sorted(node("KEYS", "user:[^1]*")) == [b"user:2"]
    assert b"" in node("KEYS", "*")  # the shortcut: the empty key is listed
    assert b"" not in node("KEYS", "**")  # stringmatchlen("**", "") is false
    assert node("KEYS", "nothing*") == []


def test_randomkey(node):
    assert node("RANDOMKEY") is None
    node("SET", "a", "1")
    node("SET", "b", "2", "PX", "5")
    node.now += 5
    assert {node("RANDOMKEY") for _ in range(20)} == {b"a"}


def test_randomkey_when_every_key_is_expired(node):
    node("SET", "a", "1", "PX", "5")
    node("SET", "b", "1", "PX", "5")
    node.now += 5
    assert node.read("RANDOMKEY") is None
    assert node("DBSIZE") == 2  # the read-only path deleted nothing
    assert node("RANDOMKEY") is None
    assert node("DBSIZE") == 0  # Redis's master drew and deleted each one
    assert node.engine.db.expired_keys == 2


@pytest.mark.parametrize("command", ["FLUSHDB", "FLUSHALL"])
def test_flush(node, command):
    node("SET", "a", "1", "EX", "10")
    assert node(command, "x") == error("ERR syntax error")
    assert node(command, "ASYNC", "SYNC") == error("ERR syntax error")
    assert node("DBSIZE") == 1
    for options in ([], ["async"], ["SYNC"]):
        node("SET", "a", "1")
        assert node(command, *options) == OK
        assert node("DBSIZE") == 0
    assert node.engine.db.used_memory == 0


# ---------------------------------------------------------------------- SCAN: parsing


@pytest.mark.parametrize(
    ("text", "cursor"),
    [
        (b"0", 0),
        (b"", 0),  # strtoul("") is 0 and leaves nothing behind
        (b"+7", 7),
        (b"-1", 2**64 - 1),  # strtoul negates in unsigned arithmetic
        (b"18446744073709551615", 2**64 - 1),
        (b"12\x00junk", 12),  # strtoul stops at the NUL, which Redis takes as the end
        (b"0" * 5000 + b"42", 42),
    ],
)
def test_cursor_parsing(text, cursor):
    assert parse_cursor(text) == cursor


@pytest.mark.parametrize(
    "text",
    [b" 1", b"\t1", b"1 ", b"x", b"0x10", b"+", b"-", b"1.0", b"18446744073709551616", b"9" * 5000],
)
def test_invalid_cursors(node, text):
    assert node("SCAN", text) == error("ERR invalid cursor")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["COUNT", "0"], "ERR syntax error"),  # Redis 7.0.15's words for COUNT < 1
        (["COUNT", "-3"], "ERR syntax error"),
        (["COUNT", "x"], "ERR value is not an integer or out of range"),
        (["COUNT"], "ERR syntax error"),
        (["MATCH"], "ERR syntax error"),
        (["TYPE"], "ERR syntax error"),
        (["MATCH", "*", "NOPE", "1"], "ERR syntax error"),
        (["COUNT", "x", "NOPE"], "ERR value is not an integer or out of range"),  # in order
    ],
)
def test_scan_option_errors(node, options, message):
    assert node("SCAN", "0", *options) == error(message)


def test_scan_options_parsing():
    args = [b"SCAN", b"0", b"count", b"5", b"MATCH", b"a*", b"Type", b"HASH", b"COUNT", b"7"]
    options = parse_scan_options(args, 2, allow_type=True)
    assert (options.count, options.match, options.type_name) == (7, b"a*", b"hash")
    assert parse_scan_options([b"X", b"0", b"MATCH", b"*"], 2).match is None
    with pytest.raises(Exception, match="syntax"):
        parse_scan_options([b"HSCAN", b"k", b"0", b"TYPE", b"hash"], 3)  # only SCAN has TYPE


# ---------------------------------------------------------------------- SCAN: iteration


def scan_all(node: Node, *options: str, count: int = 3, read_only: bool = False) -> list[bytes]:
    """Every key a complete iteration returns, with repeats."""
    call = node.read if read_only else node
    found: list[bytes] = []
    cursor = b"0"
    while True:
        next_cursor, page = call("SCAN", cursor, "COUNT", count, *options)
        assert 0 <= int(next_cursor) < 2**CURSOR_BITS
        found += page
        if next_cursor == b"0":
            return found
        cursor = next_cursor


def test_scan_visits_every_key_once(node):
    names = {b"key:%d" % n for n in range(500)}
    for name in names:
        node("SET", name, "v")
    found = scan_all(node, count=7)
    assert sorted(found) == sorted(names)
    assert sorted(scan_all(node, count=1000)) == sorted(names)
    assert node("SCAN", "0", "COUNT", "1000")[0] == b"0"


def test_scan_match_and_type(node):
    for n in range(50):
        node("SET", f"s{n}", "v")
    node.engine.db.set(b"list1", FakeList([b"x"]))
    assert sorted(scan_all(node, "MATCH", "s1*")) == sorted(
        [b"s1"] + [b"s1%d" % n for n in range(10)]
    )
    assert scan_all(node, "TYPE", "LIST") == [b"list1"]
    assert scan_all(node, "TYPE", "hash") == []
    assert scan_all(node, "TYPE", "string", "MATCH", "list*") == []


def test_scan_survives_changes_between_pages(node):
    """Keys present during the whole iteration come back; others may or may not."""
    rng = random.Random(3)
    stable = {b"stable:%d" % n for n in range(300)}
    for name in stable:
        node("SET", name, "v")
    found: set[bytes] = set()
    cursor = b"0"
    churn = 0
    while True:
        cursor, page = node("SCAN", cursor, "COUNT", 5)
        found.update(page)
        for _ in range(5):
            churn += 1
            node("SET", b"new:%d" % churn, "v")
            if rng.random() < 0.5:
                node("DEL", b"new:%d" % rng.randrange(1, churn + 1))
        if cursor == b"0":
            break
    assert stable <= found


def test_scan_skips_expired_keys_and_deletes_them_when_mutating(node):
    for n in range(20):
        node("SET", f"k{n}", "v", "PX", "10" if n % 2 else "100000")
    node.now += 10
    assert len(scan_all(node, read_only=True)) == 10
    assert node("DBSIZE") == 20
    assert len(scan_all(node)) == 10
    assert node("DBSIZE") == 10


def test_scan_type_none_returns_expired_keys_as_redis_does(node):
    """Redis's TYPE check looks the key up first, which deletes it on a master; the expiry
    filter then finds nothing to filter, so SCAN ... TYPE none lists it."""
    node("SET", "gone", "v", "PX", "10")
    node("SET", "here", "v")
    node.now += 10
    assert scan_all(node, "TYPE", "none", read_only=True) == []
    assert scan_all(node, "TYPE", "none") == [b"gone"]
    assert node.stored == {b"here"}


def test_scan_index_follows_the_keyspace(node):
    node("SET", "a", "1")
    assert scan_all(node) == [b"a"]
    assert node.engine.db.scan_index is not None
    node("SET", "b", "1")
    node("RENAME", "a", "c")
    node("COPY", "c", "d")
    node("DEL", "b")
    assert sorted(scan_all(node)) == [b"c", b"d"]
    assert len(node.engine.db.scan_index) == 2
    node("FLUSHALL")
    node("SET", "e", "1")
    assert scan_all(node) == [b"e"]


def test_scan_cursors_do_not_depend_on_insertion_order():
    first, second = Node(), Node()
    names = [b"n%d" % n for n in range(100)]
    for name in names:
        first("SET", name, "v")
    for name in reversed(names):
        second("SET", name, "v")
    assert first("SCAN", "0", "COUNT", "9") == second("SCAN", "0", "COUNT", "9")


def test_cursor_past_every_hash_ends_the_iteration(node):
    node("SET", "a", "1")
    assert node("SCAN", str(2**CURSOR_BITS)) == [b"0", []]
    assert node("SCAN", "-1") == [b"0", []]


# ---------------------------------------------------------------------- scan helpers


@pytest.fixture
def coarse_hash(monkeypatch):
    """Many equal hashes, to check that a page never splits them."""
    monkeypatch.setattr(scan_module, "member_hash", lambda member: len(member) % 4)


def _iterate(members, count: int, match: bytes | None = None) -> list[bytes]:
    found: list[bytes] = []
    cursor = 0
    while True:
        cursor, page = scan_page(members, cursor, count, match)
        found += page
        if cursor == 0:
            return found


@pytest.mark.usefixtures("coarse_hash")
def test_equal_hashes_are_never_split_across_pages():
    members = [b"m" * n for n in range(1, 30)]
    for source in (members, ScanIndex(members)):
        assert sorted(_iterate(source, 2)) == sorted(members)


@pytest.mark.usefixtures("coarse_hash")
def test_index_changes_are_applied_before_the_next_page():
    present = {b"a", b"bb", b"cc"}  # bb and cc share a hash
    index = ScanIndex(present)
    for added, member in [(1, b"dd"), (0, b"bb"), (1, b"e"), (0, b"nope"), (1, b"a"), (1, b"x")]:
        (present.add if added else present.discard)(member)
        (index.add if added else index.discard)(member)
    present.discard(b"x")
    index.discard(b"x")  # the last change wins
    assert sorted(_iterate(index, 1)) == [b"a", b"cc", b"dd", b"e"]
    assert len(index) == 4


@pytest.mark.parametrize("coarse", [False, True])
@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_index_follows_any_sequence_of_changes(monkeypatch, coarse, data):
    if coarse:
        monkeypatch.setattr(scan_module, "member_hash", lambda member: len(member) % 3)
    member = st.binary(max_size=3)
    present = set(data.draw(st.sets(member, max_size=20)))
    index = ScanIndex(present)
    for _ in range(data.draw(st.integers(0, 6))):
        for added, item in data.draw(st.lists(st.tuples(st.booleans(), member), max_size=15)):
            if added:
                index.add(item)
                present.add(item)
            else:
                index.discard(item)
                present.discard(item)
        assert sorted(_iterate(index, data.draw(st.integers(1, 5)))) == sorted(present)


def test_an_index_left_unread_lets_go_and_rebuilds():
    present = {b"a"}
    index = ScanIndex(present)
    for n in range(1025):
        present.add(b"k%d" % n)
        index.add(b"k%d" % n)
        assert index.stale == (n == 1024)
    assert sorted(_iterate(index, 100)) == sorted(present)
    assert not index.stale


def test_an_index_rebuilds_when_its_size_disagrees_with_the_source():
    present = {b"a", b"b"}
    index = ScanIndex(present)
    present.add(b"c")  # not reported
    assert sorted(_iterate(index, 1)) == [b"a", b"b", b"c"]


def test_the_keyspace_rebuilds_a_stale_index(node):
    node("SET", "a", "1")
    assert scan_all(node) == [b"a"]
    for n in range(1100):
        node("SET", f"k{n}", "v")
    assert node.engine.db.scan_index.stale
    assert len(scan_all(node, count=50)) == 1101
    assert not node.engine.db.scan_index.stale


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    members=st.sets(st.binary(max_size=6), max_size=60),
    count=st.integers(1, 12),
    match=st.sampled_from([None, b"a*", b"*[0-9]", b"?"]),
)
def test_index_and_plain_iterable_page_alike(members, count, match):
    index = ScanIndex(members)
    cursor = 0
    while True:
        expected = scan_page(list(members), cursor, count, match)
        assert scan_page(index, cursor, count, match) == expected
        cursor = expected[0]
        if cursor == 0:
            break
    assert sorted(_iterate(index, count)) == sorted(members)


def test_options_filter_a_small_collection_in_one_call():
    options = parse_scan_options([b"HSCAN", b"k", b"0", b"MATCH", b"f[12]"], 3)
    fields = [b"f1", b"f2", b"f3"]
    assert [field for field in fields if options.accepts(field)] == [b"f1", b"f2"]


# ---------------------------------------------------------------------- SCAN against Redis


@pytest.mark.parametrize(
    "options",
    [[], ["MATCH", "k:1*"], ["TYPE", "string"], ["MATCH", "*[05]", "TYPE", "STRING"]],
)
def test_complete_iterations_match_redis(redis_port, options):
    """Page by page with a small COUNT on both sides: the same keys, each at least once."""
    node = Node()
    node.now = int(time.time() * 1000)
    redis = RawRedis(redis_port)
    try:
        redis.call([b"SELECT", b"9"])
        redis.call([b"FLUSHDB"])
        for n in range(400):
            args = [b"SET", b"k:%d" % n, b"v"]
            node(*args)
            redis.call(args)
        redis_keys: set[bytes] = set()
        cursor = b"0"
        while True:
            cursor, page = redis.call([b"SCAN", cursor, b"COUNT", b"7", *_args(tuple(options))])
            redis_keys.update(page)
            if cursor == b"0":
                break
        assert set(scan_all(node, *options, count=7)) == redis_keys
        assert redis_keys
    finally:
        redis.call([b"FLUSHDB"])
        redis.close()

"""Databases 0-15 (SELECT, MOVE, COPY ... DB, SWAPDB, FLUSHDB, FLUSHALL, INFO keyspace)
against a real redis-server 7.0, through a router over three in-process shards: the same
commands on one connection to each give the same replies, byte for byte after hiredis."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import hiredis
import pytest

from tests.differential.harness import RawRedis
from tests.router.support import RouterThread, pack


@pytest.fixture(scope="module")
def router() -> Iterator[RouterThread]:
    with RouterThread(shards=3) as thread:
        yield thread


class Pair:
    """One connection to redis-server and one to the router, driven together."""

    def __init__(self, redis_port: int, router_port: int) -> None:
        self.redis = RawRedis(redis_port)
        self.ours = RawRedis(router_port)

    def both(self, *args: bytes | str) -> tuple[Any, Any]:
        command = [arg.encode() if isinstance(arg, str) else arg for arg in args]
        return self.ours.call(command), self.redis.call(command)

    def check(self, *args: bytes | str, normalize: Any = None) -> Any:
        ours, theirs = self.both(*args)
        if normalize is not None:
            ours, theirs = normalize(ours), normalize(theirs)
        assert ours == theirs, (args, ours, theirs)
        return ours

    def close(self) -> None:
        self.redis.close()
        self.ours.close()


@pytest.fixture
def pair(redis_port: int, router: RouterThread) -> Iterator[Pair]:
    connections = Pair(redis_port, router.port)
    connections.check("FLUSHALL")
    connections.check("SELECT", "0")
    yield connections
    connections.close()


def _sorted(reply: Any) -> Any:
    return sorted(reply) if isinstance(reply, list) else reply


def test_each_database_holds_its_own_keys(pair: Pair) -> None:
    for index in range(16):
        pair.check("SELECT", str(index))
        pair.check("SET", "k", f"value in {index}")
        pair.check("RPUSH", f"list{index % 3}", str(index))
        if index % 2:
            pair.check("SET", f"only{index}", "x", "EX", "1000")
    for index in range(16):
        pair.check("SELECT", str(index))
        pair.check("GET", "k")
        pair.check("DBSIZE")
        pair.check("KEYS", "*", normalize=_sorted)
        pair.check("EXISTS", "only1", "only3", "k")
        pair.check("LRANGE", f"list{index % 3}", "0", "-1")
        pair.check("TTL", f"only{index}")
    pair.check("SELECT", "16")
    pair.check("SELECT", "-1")
    pair.check("SELECT", "x")
    pair.check("SELECT", "99999999999999999999")
    pair.check("GET", "k")  # still database 15


def test_scan_and_randomkey_stay_in_their_database(pair: Pair) -> None:
    for index in range(40):
        pair.check("SET", f"zero:{index}", "v")
    pair.check("SELECT", "7")
    for index in range(25):
        pair.check("SET", f"seven:{index}", "v")
    found: set[bytes] = set()
    cursor = b"0"
    for _ in range(100):
        cursor, keys = pair.ours.call([b"SCAN", cursor, b"COUNT", b"10"])
        found.update(keys)
        if cursor == b"0":
            break
    assert found == {b"seven:%d" % index for index in range(25)}
    for _ in range(20):
        assert pair.ours.call([b"RANDOMKEY"]).startswith(b"seven:")
    pair.check("SELECT", "8")
    pair.check("RANDOMKEY")


def test_move_as_redis(pair: Pair) -> None:
    pair.check("SET", "a", "1", "PX", "500000")
    pair.check("SET", "b", "2")
    pair.check("MOVE", "a", "3")
    pair.check("MOVE", "a", "3")  # gone from here
    pair.check("MOVE", "b", "0")  # the same database
    pair.check("MOVE", "b", "16")
    pair.check("MOVE", "b", "-1")
    pair.check("MOVE", "b", "x")
    pair.check("MOVE", "missing", "4")
    pair.check("SELECT", "3")
    pair.check("GET", "a")
    pair.check("PTTL", "a", normalize=lambda ttl: ttl // 10_000)
    pair.check("SET", "b", "3")
    pair.check("SELECT", "0")
    pair.check("MOVE", "b", "3")  # the target has one: nothing moves
    pair.check("GET", "b")
    pair.check("HSET", "h", "f", "v")
    pair.check("MOVE", "h", "5")
    pair.check("SELECT", "5")
    pair.check("HGETALL", "h")
    pair.check("OBJECT", "ENCODING", "h")


def test_copy_to_another_database_as_redis(pair: Pair) -> None:
    """(Keys of one slot: a copy between slots is a cross-shard command, issue 28.)"""
    pair.check("SADD", "s", "a", "b", "c")
    pair.check("SET", "{t}", "v", "EX", "1000")
    pair.check("COPY", "s", "s", "DB", "2")
    pair.check("COPY", "s", "s", "DB", "0")
    pair.check("COPY", "{t}", "{t}u", "DB", "2")
    pair.check("COPY", "{t}", "{t}u", "DB", "2")  # exists there
    pair.check("SET", "{t}", "new")
    pair.check("COPY", "{t}", "{t}u", "DB", "2", "REPLACE")
    pair.check("COPY", "{t}", "{t}u", "DB", "16")
    pair.check("SELECT", "2")
    pair.check("SMEMBERS", "s", normalize=_sorted)
    pair.check("GET", "{t}u")
    pair.check("TTL", "{t}u")


def test_swapdb_as_redis(pair: Pair) -> None:
    pair.check("SET", "k", "zero")
    pair.check("SET", "z", "only zero")
    pair.check("SELECT", "1")
    pair.check("SET", "k", "one")
    pair.check("LPUSH", "l", "x")
    pair.check("SWAPDB", "0", "1")
    pair.check("GET", "k")  # this connection's database 1 now holds database 0's keys
    pair.check("GET", "z")
    pair.check("DBSIZE")
    pair.check("SELECT", "0")
    pair.check("GET", "k")
    pair.check("LRANGE", "l", "0", "-1")
    pair.check("SWAPDB", "0", "0")
    pair.check("SWAPDB", "0", "16")
    pair.check("SWAPDB", "x", "1")
    pair.check("SWAPDB", "1", "x")
    pair.check("SWAPDB", "-1", "1")
    pair.check("SWAPDB", "15", "0")
    pair.check("DBSIZE")
    pair.check("SELECT", "15")
    pair.check("GET", "k")
    pair.check("SWAPDB", "15", "0")
    pair.check("GET", "k")


def test_flushdb_empties_one_database_and_flushall_every_one(pair: Pair) -> None:
    for index in (0, 4, 9):
        pair.check("SELECT", str(index))
        pair.check("SET", "k", "v")
        pair.check("SET", "other", "v")
    pair.check("SELECT", "4")
    pair.check("FLUSHDB")
    pair.check("DBSIZE")
    pair.check("SELECT", "9")
    pair.check("DBSIZE")
    pair.check("FLUSHALL")
    for index in (0, 4, 9):
        pair.check("SELECT", str(index))
        pair.check("DBSIZE")


def test_info_keyspace_lists_each_database(pair: Pair) -> None:
    for index, count in ((0, 3), (2, 1), (11, 4)):
        pair.check("SELECT", str(index))
        for key in range(count):
            pair.check("SET", f"k{key}", "v", *(["EX", "1000"] if key % 2 else []))

    def lines(text: bytes) -> list[str]:
        return [
            re.sub(r"avg_ttl=\d+", "avg_ttl=*", line)
            for line in text.decode().splitlines()
            if line.startswith("db")
        ]

    ours, theirs = pair.both("INFO", "keyspace")
    assert (
        lines(ours)
        == lines(theirs)
        == [
            "db0:keys=3,expires=1,avg_ttl=*",
            "db2:keys=1,expires=0,avg_ttl=*",
            "db11:keys=4,expires=2,avg_ttl=*",
        ]
    )


def test_multi_with_select_runs_each_command_in_its_database(pair: Pair) -> None:
    pair.check("SET", "k", "zero")
    pair.check("MULTI")
    pair.check("SET", "k", "still zero")
    pair.check("SELECT", "6")
    pair.check("SET", "k", "six")
    pair.check("GET", "k")
    pair.check("SELECT", "99")
    pair.check("GET", "k")
    pair.check("EXEC")
    pair.check("GET", "k")  # the connection stays in database 6 after EXEC
    pair.check("SELECT", "0")
    pair.check("GET", "k")
    pair.check("MULTI")
    pair.check("SELECT", "x")
    pair.check("EXEC")
    pair.check("CLIENT", "INFO", normalize=lambda info: re.findall(rb" db=\d+ ", info))


def test_watch_is_per_database(pair: Pair) -> None:
    pair.check("SELECT", "3")
    pair.check("SET", "w", "1")
    pair.check("WATCH", "w")
    other = Pair(pair.redis.sock.getpeername()[1], pair.ours.sock.getpeername()[1])
    try:
        other.check("SET", "w", "changed in database 0")  # another database's w
        pair.check("MULTI")
        pair.check("INCR", "w")
        pair.check("EXEC")  # runs
        pair.check("WATCH", "w")
        other.check("SELECT", "3")
        other.check("SET", "w", "5")
        pair.check("MULTI")
        pair.check("INCR", "w")
        pair.check("EXEC")  # aborted
        pair.check("GET", "w")
    finally:
        other.close()


def test_client_info_and_reset_show_the_database(pair: Pair) -> None:
    def database(info: Any) -> list[bytes]:
        return re.findall(rb" db=\d+ ", info)

    pair.check("SELECT", "12")
    pair.check("CLIENT", "INFO", normalize=database)
    pair.check("RESET")
    pair.check("CLIENT", "INFO", normalize=database)
    pair.check("SET", "after-reset", "in database 0")
    pair.check("SELECT", "12")
    pair.check("EXISTS", "after-reset")


def _subscriber(port: int, pattern: bytes) -> tuple[socket.socket, hiredis.Reader]:
    connection = socket.create_connection(("127.0.0.1", port), timeout=5)
    reader = hiredis.Reader()
    connection.sendall(pack(b"PSUBSCRIBE", pattern))
    while reader.gets() is False:
        reader.feed(connection.recv(65536))
    return connection, reader


def _messages(connection: socket.socket, reader: hiredis.Reader, count: int) -> list[Any]:
    got: list[Any] = []
    deadline = time.monotonic() + 5
    while len(got) < count and time.monotonic() < deadline:
        message = reader.gets()
        if message is False:
            reader.feed(connection.recv(65536))
            continue
        got.append(message[2:])
    return got


def test_keyspace_notifications_name_the_database(pair: Pair) -> None:
    pair.check("CONFIG", "SET", "notify-keyspace-events", "KEA")
    try:
        redis_port = pair.redis.sock.getpeername()[1]
        router_port = pair.ours.sock.getpeername()[1]
        subscribers = [_subscriber(port, b"__key*@*__:*") for port in (router_port, redis_port)]
        pair.check("SELECT", "3")
        pair.check("SET", "n", "1")
        pair.check("MOVE", "n", "9")
        pair.check("SELECT", "9")
        pair.check("DEL", "n")
        expected = 8  # set, move_from, move_to, del: each on both channels
        ours, theirs = (_messages(conn, reader, expected) for conn, reader in subscribers)
        assert ours == theirs
        assert [b"__keyspace@3__:n", b"set"] in ours
        assert [b"__keyevent@9__:move_to", b"n"] in ours
        for connection, _ in subscribers:
            connection.close()
    finally:
        pair.check("CONFIG", "SET", "notify-keyspace-events", "")


def _read(connection: RawRedis) -> Any:
    """The next reply on a connection whose command was sent already."""
    while (reply := connection.reader.gets()) is False:
        connection.reader.feed(connection.sock.recv(65536))
    return reply


def test_a_blocked_pop_waits_in_its_own_database(pair: Pair, router: RouterThread) -> None:
    blocked = RawRedis(router.port)
    try:
        blocked.call([b"SELECT", b"4"])
        blocked.sock.sendall(pack(b"BLPOP", b"queue", b"5"))
        time.sleep(0.2)
        pair.ours.call([b"RPUSH", b"queue", b"in database 0"])  # not its database
        time.sleep(0.2)
        pair.ours.call([b"SELECT", b"4"])
        pair.ours.call([b"RPUSH", b"queue", b"in database 4"])
        assert _read(blocked) == [b"queue", b"in database 4"]
        pair.ours.call([b"SELECT", b"0"])
        assert pair.ours.call([b"LRANGE", b"queue", b"0", b"-1"]) == [b"in database 0"]
    finally:
        blocked.close()


def test_a_script_selects_a_database_for_itself(pair: Pair) -> None:
    script = (
        "redis.call('select', ARGV[1]); redis.call('set', KEYS[1], ARGV[2]); "
        "return redis.call('get', KEYS[1])"
    )
    pair.check("SET", "s", "zero")
    pair.check("EVAL", script, "1", "s", "3", "three")
    pair.check("GET", "s")  # the connection is still in database 0
    pair.check("SELECT", "3")
    pair.check("GET", "s")
    pair.check("EVAL", "return redis.pcall('select', 16)", "0")
    pair.check("EVAL", "return redis.pcall('select', 'x')", "0")
    pair.check("EVAL_RO", "redis.call('select', 0); return redis.call('get', KEYS[1])", "1", "s")


@pytest.mark.parametrize(
    "index", ["2147483648", "-2147483649", "9223372036854775808", "01", " 1", "1.0", "16", "-1"]
)
def test_bad_database_indexes_get_redis_s_errors(pair: Pair, index: str) -> None:
    pair.check("SELECT", index)
    pair.check("MOVE", "k", index)
    pair.check("COPY", "k", "k", "DB", index)
    pair.check("SWAPDB", index, "0")
    pair.check("SWAPDB", "0", index)
    pair.check("MULTI")
    pair.check("SELECT", index)
    pair.check("EXEC")
    pair.check("EVAL", f"return redis.pcall('select', '{index}')", "0")

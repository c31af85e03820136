"""INFO, SLOWLOG, LATENCY and MEMORY against a real redis-server 7.0.15, through a router
over in-process shards: INFO has every field Redis's has, section by section, and the
other commands answer with Redis's shapes and error texts."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import hiredis
import pytest
import redis

from tests.router.support import RouterThread, pack


@pytest.fixture(scope="module")
def router() -> Iterator[RouterThread]:
    with RouterThread(shards=3) as thread:
        yield thread


def exchange(port: int, *args: str | bytes, protocol: int = 2) -> Any:
    """One command's reply as sent (errors as hiredis.ReplyError)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        reader = hiredis.Reader()
        if protocol == 3:
            connection.sendall(pack("HELLO", "3"))
            while reader.gets() is False:
                reader.feed(connection.recv(65536))
        connection.sendall(pack(*args))
        while (reply := reader.gets()) is False:
            chunk = connection.recv(65536)
            assert chunk, "connection closed"
            reader.feed(chunk)
    return reply


def fields(text: str) -> dict[str, list[str]]:
    """Section -> its field names."""
    sections: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("# "):
            current = line[2:]
            sections[current] = []
        elif ":" in line:
            sections[current].append(line.split(":", 1)[0])
    return sections


def test_info_has_every_section_and_field_redis_has(redis_port, router):
    theirs = redis.Redis(port=redis_port)
    ours = redis.Redis(port=router.port)
    for client in (theirs, ours):
        client.set("info:k", "v", ex=100)
        client.get("info:k")
        with pytest.raises(redis.ResponseError):
            client.lpush("info:k", "x")
    redis_fields = fields(exchange(redis_port, "INFO", "everything").decode())
    our_fields = fields(exchange(router.port, "INFO", "everything").decode())
    assert list(our_fields) == list(redis_fields)
    for section, names in redis_fields.items():
        if section in ("Commandstats", "Errorstats", "Latencystats", "Keyspace"):
            continue  # one line per command, error code or database: below
        missing = [name for name in names if name not in our_fields[section]]
        assert missing == [], section
    for section, prefix in (
        ("Commandstats", "cmdstat_"),
        ("Errorstats", "errorstat_"),
        ("Latencystats", "latency_percentiles_usec_"),
    ):
        assert all(name.startswith(prefix) for name in our_fields[section])
    assert "cmdstat_lpush" in our_fields["Commandstats"]
    assert "errorstat_WRONGTYPE" in our_fields["Errorstats"]
    assert our_fields["Keyspace"] == ["db0"]
    # The same text shape, field by field, for lines whose format redis-py parses.
    ours_parsed, theirs_parsed = ours.info("everything"), theirs.info("everything")
    for name in ("cmdstat_lpush", "latency_percentiles_usec_set", "errorstat_WRONGTYPE"):
        assert set(ours_parsed[name]) == set(theirs_parsed[name])
    assert set(ours_parsed["db0"]) == set(theirs_parsed["db0"])
    for client in (theirs, ours):
        client.delete("info:k")


@pytest.mark.parametrize(
    "args",
    [
        ["SLOWLOG", "GET", "abc"],
        ["SLOWLOG", "GET", "-2"],
        ["SLOWLOG", "GET", "1", "2"],
        ["SLOWLOG", "GET", "99999999999999999999"],
        ["SLOWLOG", "LEN", "x"],
        ["SLOWLOG", "foo"],
        ["SLOWLOG"],
        ["SLOWLOG", "HELP"],
        ["LATENCY", "foo"],
        ["LATENCY", "HISTORY"],
        ["LATENCY", "HISTORY", "a", "b"],
        ["LATENCY", "GRAPH", "nosuch"],
        ["LATENCY", "LATEST", "x"],
        ["LATENCY", "DOCTOR", "x"],
        ["LATENCY", "HELP"],
        ["LATENCY", "HISTORY", "nosuch"],
        ["LATENCY", "RESET", "nosuch"],
        ["MEMORY", "USAGE"],
        ["MEMORY", "USAGE", "nosuch"],
        ["MEMORY", "USAGE", "k", "SAMPLES"],
        ["MEMORY", "USAGE", "k", "SAMPLES", "x"],
        ["MEMORY", "USAGE", "k", "SAMPLES", "-1"],
        ["MEMORY", "USAGE", "k", "foo"],
        ["MEMORY", "foo"],
        ["MEMORY", "STATS", "x"],
        ["MEMORY", "HELP"],
        ["MEMORY", "PURGE"],
        ["CONFIG", "HELP"],
        ["CONFIG", "GET"],
        ["CONFIG", "SET", "maxmemory"],
        ["CONFIG", "RESETSTAT", "x"],
        ["INFO", "nosuch"],
    ],
)
def test_errors_and_fixed_replies_are_redis_s(redis_port, router, args):
    expected = exchange(redis_port, *args)
    ours = exchange(router.port, *args)
    if isinstance(expected, hiredis.ReplyError):
        assert isinstance(ours, hiredis.ReplyError) and str(ours) == str(expected)
    else:
        assert ours == expected


@pytest.mark.parametrize("protocol", [2, 3])
def test_reply_shapes_are_redis_s(redis_port, router, protocol):
    def shape(reply: object) -> object:
        if isinstance(reply, list):
            return [shape(item) for item in reply]
        if isinstance(reply, dict):
            return {key: shape(value) for key, value in reply.items()}
        return type(reply).__name__

    for port in (redis_port, router.port):
        exchange(port, "CONFIG", "SET", "slowlog-log-slower-than", "0")
        exchange(port, "SLOWLOG", "RESET")
        exchange(port, "SET", "shape:k", "v")
    try:
        for args in (
            ["SLOWLOG", "GET", "1"],
            ["LATENCY", "LATEST"],
            ["LATENCY", "HISTOGRAM", "set"],
            ["MEMORY", "USAGE", "shape:k"],
            ["SLOWLOG", "LEN"],
        ):
            theirs = exchange(redis_port, *args, protocol=protocol)
            ours = exchange(router.port, *args, protocol=protocol)
            if args[:2] == ["LATENCY", "HISTOGRAM"]:
                # The buckets differ with the latencies: compare the frame of the reply.
                theirs, ours = _histogram_frame(theirs), _histogram_frame(ours)
            assert shape(ours) == shape(theirs), args
        redis_stats = exchange(redis_port, "MEMORY", "STATS", protocol=protocol)
        our_stats = exchange(router.port, "MEMORY", "STATS", protocol=protocol)
        assert _keys(our_stats) == _keys(redis_stats)
        assert shape(_values(our_stats)) == shape(_values(redis_stats))
        doctor = exchange(router.port, "LATENCY", "DOCTOR", protocol=protocol)
        assert type(doctor) is type(exchange(redis_port, "LATENCY", "DOCTOR", protocol=protocol))
    finally:
        for port in (redis_port, router.port):
            exchange(port, "CONFIG", "SET", "slowlog-log-slower-than", "10000")
            exchange(port, "DEL", "shape:k")


def _histogram_frame(reply: Any) -> object:
    if isinstance(reply, dict):
        return {name: {key: None for key in value} for name, value in reply.items()}
    return [reply[0], reply[1][::2]]


def _keys(reply: object) -> list:
    if isinstance(reply, dict):
        return list(reply)
    return reply[::2]  # type: ignore[index]


def _values(reply: object) -> list:
    if isinstance(reply, dict):
        return [_values(v) if isinstance(v, (dict, list)) else v for v in reply.values()]
    values = reply[1::2]  # type: ignore[index]
    return [_values(v) if isinstance(v, (dict, list)) else v for v in values]

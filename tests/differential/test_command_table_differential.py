"""The command table's facts against a real redis-server: the resolver's errors (unknown
command, unknown subcommand, wrong arity) and each blocking command's timeout position and
reply once it passed, compared byte for byte."""

from __future__ import annotations

import socket

import pytest

from proto.commands import (
    COMMANDS,
    TABLE,
    Unresolved,
    timeout_in_milliseconds,
    timeout_index,
    timeout_reply,
)
from proto.resp import encode
from router.replies import error


def raw_reply(port: int, args: list[bytes]) -> bytes:
    """The bytes of a one-line reply (an error, a null, a simple string)."""
    packed = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(packed)
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = connection.recv(4096)
            assert chunk, "redis closed the connection"
            data += chunk
    return data


@pytest.mark.parametrize(
    "args",
    [
        [b"nosuchcommand", b"a", b"b" * 200],
        [b"NoSuch"],
        [b"OBJECT", b"nosuch", b"k"],
        [b"object", b"N\xffo"],
        [b"CLIENT", b"nosuch"],
        [b"config", b"x" * 300],
        [b"GET"],
        [b"get", b"a", b"b"],
        [b"OBJECT"],
        [b"object", b"encoding"],
        [b"client", b"setname"],
        [b"SET", b"k"],
        [b"ZADD", b"z", b"1"],
    ],
)
def test_the_resolvers_errors_are_redis_errors(redis_port, args):
    resolved = COMMANDS.resolve(args)
    assert type(resolved) is Unresolved
    assert error(resolved.text) == raw_reply(redis_port, args)


SAMPLES = {
    "blpop": [b"BLPOP", b"absent:1", b"0"],
    "brpop": [b"BRPOP", b"absent:1", b"absent:2", b"0"],
    "blmove": [b"BLMOVE", b"absent:1", b"absent:2", b"LEFT", b"RIGHT", b"0"],
    "brpoplpush": [b"BRPOPLPUSH", b"absent:1", b"absent:2", b"0"],
    "blmpop": [b"BLMPOP", b"0", b"2", b"absent:1", b"absent:2", b"LEFT"],
    "bzpopmin": [b"BZPOPMIN", b"absent:1", b"0"],
    "bzpopmax": [b"BZPOPMAX", b"absent:1", b"0"],
    "bzmpop": [b"BZMPOP", b"0", b"1", b"absent:1", b"MIN", b"COUNT", b"2"],
    "xread": [b"XREAD", b"COUNT", b"2", b"BLOCK", b"0", b"STREAMS", b"absent:1", b"$"],
    "xreadgroup": [
        *(b"XREADGROUP", b"GROUP", b"g", b"c", b"BLOCK", b"0", b"STREAMS", b"empty:s", b">")
    ],
}
# slotraft's own blocking commands, which no Redis has (tests/unit/test_leases.py).
OWN_BLOCKING = {"lease.get"}
# What a sample needs first (XREADGROUP: its group, on an empty stream).
SETUP = {"xreadgroup": [b"XGROUP", b"CREATE", b"empty:s", b"g", b"$", b"MKSTREAM"]}


def test_the_samples_cover_every_blocking_command():
    blocking = {
        item.name
        for spec in TABLE.values()
        for item in (spec, *spec.subcommands.values())
        if item.blocking is not None
    }
    assert set(SAMPLES) | OWN_BLOCKING == blocking


@pytest.mark.parametrize("name", sorted(SAMPLES))
@pytest.mark.parametrize("resp3", [False, True])
def test_a_blocking_command_times_out_where_and_as_its_spec_says(redis_port, name, resp3):
    """The spec's timeout argument set to a short wait: Redis waits it out (a wrong
    position would be a syntax or type error) and replies what the spec says."""
    args = list(SAMPLES[name])
    args[timeout_index(args)] = b"10" if timeout_in_milliseconds(args) else b"0.01"
    if name in SETUP:
        raw_reply(redis_port, SETUP[name])  # OK, or BUSYGROUP the second time
    hello = b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n" if resp3 else b""
    packed = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
    with socket.create_connection(("127.0.0.1", redis_port), timeout=10) as connection:
        if hello:
            connection.sendall(hello)
            _read_hello(connection)
        connection.sendall(packed)
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = connection.recv(4096)
            assert chunk
            reply += chunk
    assert reply == encode(timeout_reply(args), resp3)


def _read_hello(connection: socket.socket) -> None:
    """Skip HELLO 3's map reply (ends with the empty modules array)."""
    data = b""
    while not data.endswith(b"*0\r\n"):
        chunk = connection.recv(4096)
        assert chunk
        data += chunk


def _redis_call(port: int, *args: bytes):
    import hiredis

    packed = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
    reader = hiredis.Reader()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(packed)
        while (reply := reader.gets()) is False:
            reader.feed(connection.recv(1 << 20))
    return reply


def test_acl_categories_and_groups_are_redis_ones(redis_port):
    """COMMAND INFO's ACL categories and COMMAND DOCS's group of every command Redis 7.0
    has (CLIENT SETINFO is 7.2's, DELEX 8.4's)."""
    from router.command_docs import command_docs

    differences = []
    for spec in TABLE.values():
        for item in (spec, *spec.subcommands.values()):
            (info,) = _redis_call(redis_port, b"COMMAND", b"INFO", item.name.encode())
            if info is None:
                continue
            theirs = sorted(category.decode() for category in info[6])
            if sorted(item.acl_categories) != theirs:
                differences.append((item.name, sorted(item.acl_categories), theirs))
            docs = _redis_call(redis_port, b"COMMAND", b"DOCS", item.name.encode())
            their_group = dict(zip(docs[1][::2], docs[1][1::2]))[b"group"]
            our_group = dict(zip(command_docs(item)[::2], command_docs(item)[1::2]))[b"group"]
            if our_group != their_group:
                differences.append((item.name, our_group, their_group))
    assert differences == [], "\n".join(map(str, differences))

"""The ACL command family, AUTH with users and the denials of restricted users, against a
real redis-server 7.0, through an in-process router (router/acl_*.py, proto/acl*.py).

Each case is a list of (connection, command); every connection sends its commands one at
a time and the replies are compared after normalizing what is random or timed (GENPASS's
password, ACL LOG's age and client-info)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hiredis
import pytest

from proto.commands.index import TABLE
from tests.differential.harness import _pack, _plain
from tests.router.support import RouterThread
from tests.support.processes import redis_server

Step = tuple[str, list[bytes]]


def _cmd(text: str) -> list[bytes]:
    return [word.encode() for word in text.split(" ")]


def _eval(body: str, *keys: str) -> list[bytes]:
    """EVAL with its keys declared: a cluster runs a script on the shard of its keys."""
    return [b"EVAL", body.encode(), b"%d" % len(keys), *(key.encode() for key in keys)]


LIBRARY = (
    b"#!lua name=acllib\n"
    b"redis.register_function('deleter', function(keys) return redis.call('del', keys[1]) end)\n"
    b"redis.register_function{function_name='reader', flags={'no-writes'},"
    b" callback=function(keys) return redis.call('get', keys[1]) end}"
)


class _Conn:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.reader = hiredis.Reader()
        self.closed = False

    def call(self, args: list[bytes]) -> Any:
        if self.closed:
            return "<closed>"
        try:
            self.sock.sendall(_pack(args))
            while (reply := self.reader.gets()) is False:
                data = self.sock.recv(1 << 20)
                if not data:
                    raise ConnectionError
                self.reader.feed(data)
        except (ConnectionError, OSError):
            self.closed = True
            return "<closed>"
        return _plain(reply)


def _normalize(reply: Any) -> Any:
    if isinstance(reply, list):
        out = [_normalize(item) for item in reply]
        # ACL LOG entries: the age and the client's fields vary.
        for index in range(0, len(out) - 1, 2):
            if out[index] == b"age-seconds":
                out[index + 1] = "AGE"
            if out[index] == b"client-info":
                fields = dict(
                    field.split(b"=", 1) for field in out[index + 1].split(b" ") if b"=" in field
                )
                out[index + 1] = (fields[b"user"], fields[b"cmd"])
        return out
    return reply


def run(port: int, steps: list[Step]) -> list[Any]:
    connections: dict[str, _Conn] = {}
    out = []
    try:
        for who, args in steps:
            if who not in connections:
                connections[who] = _Conn(port)
            out.append((who, _normalize(connections[who].call(args))))
    finally:
        for connection in connections.values():
            connection.sock.close()
    return out


A = "admin"
U = "user"
V = "other"

CASES: dict[str, list[Step]] = {
    "setuser and getuser": [
        (A, _cmd("ACL SETUSER alice")),
        (A, _cmd("ACL GETUSER alice")),
        (A, _cmd("ACL SETUSER alice on >p1 >p2 <p1 ~k* %R~r* %W~w* &ch* +@read +set")),
        (A, _cmd("ACL GETUSER alice")),
        (A, _cmd("ACL LIST")),
        (A, _cmd("ACL USERS")),
        (A, _cmd("ACL SETUSER alice (+get ~s*) (+set %W~t*)")),
        (A, _cmd("ACL GETUSER alice")),
        (A, _cmd("ACL LIST")),
        (A, _cmd("ACL SETUSER alice clearselectors nopass")),
        (A, _cmd("ACL GETUSER alice")),
        (A, _cmd("ACL SETUSER alice resetpass allkeys allchannels +@all -flushall")),
        (A, _cmd("ACL GETUSER alice")),
        (A, _cmd("ACL SETUSER alice reset")),
        (A, _cmd("ACL LIST")),
        (A, _cmd("ACL GETUSER nosuch")),
        (A, [b"ACL", b"SETUSER", b"bob", b"on", b"#" + b"a" * 64, b"+config|get"]),
        (A, _cmd("ACL GETUSER bob")),
        (A, [b"ACL", b"SETUSER", b"bob", b"!" + b"a" * 64]),
        (A, _cmd("ACL LIST")),
        (A, _cmd("ACL DELUSER alice bob nosuch")),
        (A, _cmd("ACL USERS")),
    ],
    "setuser errors": [
        (A, _cmd("ACL SETUSER e <nope")),
        (A, _cmd("ACL SETUSER e #abc")),
        (A, [b"ACL", b"SETUSER", b"e", b"!" + b"A" * 64]),
        (A, _cmd("ACL SETUSER e +nosuch")),
        (A, _cmd("ACL SETUSER e +@nosuch")),
        (A, _cmd("ACL SETUSER e -config|nosuch")),
        (A, _cmd("ACL SETUSER e ~* ~a")),
        (A, _cmd("ACL SETUSER e allchannels &x")),
        (A, _cmd("ACL SETUSER e (+get")),
        (A, _cmd("ACL SETUSER e (+get ~x")),
        (A, [b"ACL", b"SETUSER", b"a b"]),
        (A, _cmd("ACL SETUSER e bogus")),
        (A, _cmd("ACL SETUSER e %X~k")),
        (A, _cmd("ACL SETUSER e (on)")),
        (A, _cmd("ACL USERS")),
        (A, _cmd("ACL DELUSER default")),
        (A, _cmd("ACL SETUSER")),
        (A, _cmd("ACL GETUSER")),
        (A, _cmd("ACL NOSUCH")),
    ],
    "auth and whoami": [
        (A, _cmd("ACL SETUSER u1 on >secret +@all ~*")),
        (U, _cmd("ACL WHOAMI")),
        (U, _cmd("AUTH u1 wrong")),
        (U, _cmd("AUTH nosuch secret")),
        (U, _cmd("AUTH u1 secret")),
        (U, _cmd("ACL WHOAMI")),
        (U, _cmd("AUTH secret")),
        (V, _cmd("HELLO 2 AUTH u1 wrong")),
        (V, _cmd("ACL SETUSER u2 off >pw +@all")),
        (V, _cmd("AUTH u2 pw")),
        (V, _cmd("ACL SETUSER u2 on")),
        (V, _cmd("AUTH u2 pw")),
        (V, _cmd("ACL WHOAMI")),
        (A, _cmd("ACL LOG")),
        (A, _cmd("ACL LOG 1")),
        (A, _cmd("ACL LOG RESET")),
        (A, _cmd("ACL LOG")),
        (A, _cmd("ACL LOG x")),
        (A, _cmd("ACL LOG -1")),
    ],
    "denials": [
        (A, _cmd("ACL SETUSER r on >pw ~k* %R~ro* %W~wo* &ch* +@all -flushall -config|set")),
        (U, _cmd("AUTH r pw")),
        (U, _cmd("SET k1 v")),
        (U, _cmd("GET k1")),
        (U, _cmd("SET x v")),
        (U, _cmd("GET ro1")),
        (U, _cmd("SET ro1 v")),
        (U, _cmd("SET wo1 v")),
        (U, _cmd("GET wo1")),
        (U, _cmd("INCR wo1")),
        (U, _cmd("APPEND wo1 x")),
        (U, _cmd("LPUSH wo2 a")),
        (U, _cmd("EXISTS wo1")),
        (U, _cmd("MGET k1 ro1 x")),
        (U, _cmd("SUNIONSTORE wo{t}3 ro{t}1 k{t}1")),
        (U, _cmd("SUNIONSTORE ro{t}3 ro{t}1 k{t}1")),
        (U, _cmd("SUNIONSTORE wo{t}3 wo{t}1")),
        (U, _cmd("FLUSHALL")),
        (U, _cmd("CONFIG SET maxmemory 0")),
        (U, _cmd("CONFIG GET maxmemory")),
        (U, _cmd("PUBLISH ch1 m")),
        (U, _cmd("PUBLISH zz m")),
        (U, _cmd("EVAL return 1 1 k1")),
        (U, _cmd("EVAL return 1 1 x")),
        (U, _cmd("EVAL_RO return 1 1 ro1")),
        (U, _cmd("MULTI")),
        (U, _cmd("SET x v")),
        (U, _cmd("FLUSHALL")),
        (U, _cmd("SET k2 v")),
        (U, _cmd("EXEC")),
        (U, _cmd("SUBSCRIBE zz")),
        (U, _cmd("PSUBSCRIBE ch*")),
        (A, _cmd("ACL LOG")),
        (A, _cmd("ACL LOG RESET")),
    ],
    "sort options read other keys": [
        (A, _cmd("RPUSH k{s}1 1 2")),
        (A, _cmd("ACL SETUSER srt on >pw ~k* +@all")),
        (A, _cmd("ACL SETUSER srt2 on >pw %R~* ~k* +@all")),
        (U, _cmd("AUTH srt pw")),
        (U, _cmd("SORT k{s}1 BY nosort")),
        (U, _cmd("SORT k{s}1 BY w{s}_*")),
        (U, _cmd("SORT k{s}1 GET #")),
        (U, _cmd("SORT_RO k{s}1 LIMIT 0 1 GET k{s}_*")),
        (U, _cmd("SORT k{s}1 BY x{s}* STORE k{s}2")),
        (V, _cmd("AUTH srt2 pw")),
        (V, _cmd("SORT k{s}1 BY w{s}_* GET #")),
        (A, _cmd("DEL k{s}1 k{s}2")),
    ],
    "read or write, command by command": [
        (A, _cmd("ACL SETUSER kp on nopass +@all %R~r* %W~w*")),
        *[
            (A, _cmd("ACL DRYRUN kp " + command))
            for command in [
                "TTL w1",
                "EXPIRETIME r1",
                "SETBIT w1 1 1",
                "BITFIELD r1 GET u8 0",
                "BITFIELD w1 SET u8 0 1",
                "BITFIELD_RO w1 GET u8 0",
                "PFCOUNT w1",
                "PFMERGE w1 r1",
                "PFMERGE r1 w1",
                "HEXISTS w1 f",
                "SISMEMBER w1 m",
                "XCLAIM w1 g c 1 0-1",
                "WATCH w1",
                "MEMORY USAGE w1",
                "GETRANGE w1 0 1",
                "LPUSH r1 a",
                "RENAME w1 w2",
                "COPY r1 w1",
                "SMOVE r1 w1 m",
                "ZUNIONSTORE w1 2 r1 r2",
                "ZUNIONSTORE w1 2 r1 w2",
            ]
        ],
    ],
    "selectors": [
        (A, _cmd("ACL SETUSER s on nopass +get ~a* (+set ~b*) (+@read %R~c*)")),
        (U, _cmd("AUTH s x")),
        (U, _cmd("GET a1")),
        (U, _cmd("SET a1 v")),
        (U, _cmd("SET b1 v")),
        (U, _cmd("GET b1")),
        (U, _cmd("GET c1")),
        (U, _cmd("SET c1 v")),
        (U, _cmd("DEL a1")),
        (A, _cmd("ACL DRYRUN s SET b1 v")),
        (A, _cmd("ACL DRYRUN s SET a1 v")),
        (A, _cmd("ACL DRYRUN s DEL a1")),
        (A, _cmd("ACL LOG RESET")),
    ],
    "first argument": [
        (A, _cmd("ACL SETUSER fa on nopass +select|0 ~*")),
        (A, _cmd("ACL GETUSER fa")),
        (U, _cmd("AUTH fa x")),
        (U, _cmd("SELECT 0")),
        (U, _cmd("SELECT 1")),
        (A, _cmd("ACL SETUSER fa -select")),
        (U, _cmd("SELECT 0")),
        (A, _cmd("ACL SETUSER fa -select|0")),
        (A, _cmd("ACL LOG RESET")),
    ],
    "dryrun": [
        (A, _cmd("ACL SETUSER d on nopass +get +publish ~k* &ch*")),
        (A, _cmd("ACL DRYRUN nosuch get k")),
        (A, _cmd("ACL DRYRUN d nosuch")),
        (A, _cmd("ACL DRYRUN d get")),
        (A, _cmd("ACL DRYRUN d get k1")),
        (A, _cmd("ACL DRYRUN d get x")),
        (A, _cmd("ACL DRYRUN d set k1 v")),
        (A, _cmd("ACL DRYRUN d publish ch1 m")),
        (A, _cmd("ACL DRYRUN d publish x m")),
        (A, _cmd("ACL DRYRUN d config get x")),
        (A, _cmd("ACL DRYRUN d")),
    ],
    "cat and genpass": [
        (A, _cmd("ACL CAT")),
        (A, _cmd("ACL CAT nosuch")),
        (A, _cmd("ACL GENPASS 0")),
        (A, _cmd("ACL GENPASS 4097")),
        (A, _cmd("ACL GENPASS x")),
    ],
    "a changed user's clients stay, held to the new rules": [
        (A, _cmd("ACL SETUSER z on >pw +@all ~*")),
        (U, _cmd("AUTH z pw")),
        (A, _cmd("ACL SETUSER z off resetpass")),
        (U, _cmd("ACL WHOAMI")),
        (A, _cmd("ACL SETUSER z on >pw -@all")),
        (U, _cmd("ACL WHOAMI")),
        (A, _cmd("ACL LOG RESET")),
    ],
    "deleted user's clients are closed": [
        (A, _cmd("ACL SETUSER gone on >pw +@all ~*")),
        (U, _cmd("AUTH gone pw")),
        (U, _cmd("ACL WHOAMI")),
        (A, _cmd("ACL DELUSER gone")),
        (U, _cmd("ACL WHOAMI")),
    ],
    "rules changed between MULTI and EXEC": [
        (A, _cmd("ACL SETUSER m on >pw ~* &* +@all")),
        (U, _cmd("AUTH m pw")),
        (U, _cmd("MULTI")),
        (U, _cmd("SET a 1")),
        (U, _cmd("GET a")),
        (U, _cmd("PUBLISH ch m")),
        (U, _cmd("PING")),
        (A, _cmd("ACL SETUSER m resetkeys ~b* -ping resetchannels")),
        (U, _cmd("EXEC")),
        (A, _cmd("ACL LOG")),
        (A, _cmd("ACL LOG RESET")),
    ],
    "requirepass is the default user's password": [
        (A, _cmd("CONFIG SET requirepass pw")),
        (U, _cmd("GET k")),
        (U, _cmd("AUTH nope")),
        (U, _cmd("AUTH pw")),
        (U, _cmd("ACL WHOAMI")),
        (A, _cmd("ACL LIST")),
        (V, _cmd("AUTH default pw")),
        (A, [b"CONFIG", b"SET", b"requirepass", b""]),
        (A, _cmd("ACL LIST")),
        (A, _cmd("AUTH x")),
        (A, _cmd("ACL LOG RESET")),
    ],
    "client kill user": [
        (A, _cmd("ACL SETUSER ku on >pw +@all ~*")),
        (U, _cmd("AUTH ku pw")),
        (V, _cmd("AUTH ku pw")),
        (A, _cmd("CLIENT KILL USER ku")),
        (U, _cmd("PING")),
        (A, _cmd("CLIENT KILL USER nosuch")),
        (A, _cmd("ACL LOG RESET")),
    ],
    "scripts run as the user who called them": [
        (A, _cmd("ACL SETUSER s on >pw ~a* %R~r* &ch* +@all -del -ping")),
        (A, _cmd("ACL SETUSER s2 on >pw -@all +eval +evalsha +eval_ro (~x* +get)")),
        (U, _cmd("AUTH s pw")),
        (U, _eval("return redis.call('set', KEYS[1], 'v')", "a1")),
        (U, _eval("return redis.call('del', KEYS[1])", "a1")),
        (U, _eval("return redis.call('get', KEYS[1])", "b1")),
        (U, _eval("return redis.call('set', KEYS[1], 'x')", "r1")),
        (U, _eval("return redis.call('get', KEYS[1])", "r1")),
        (U, _eval("return redis.call('publish', 'zz', 'x')")),
        (U, _eval("return redis.pcall('get', KEYS[1])", "b1")),
        (U, _eval("return redis.call('ping')")),
        (U, _eval("return redis.acl_check_cmd('get', 'b1')")),
        (U, _eval("return redis.acl_check_cmd('get', 'a1')")),
        (U, _eval("return redis.acl_check_cmd('del', 'a1')")),
        (U, _eval("return redis.acl_check_cmd('set', 'r1', 'x')")),
        (U, _eval("return redis.acl_check_cmd('nosuch')")),
        (U, [b"EVAL_RO", b"return redis.call('get', KEYS[1])", b"1", b"a1"]),
        (U, [b"EVAL_RO", b"return redis.call('get', KEYS[1])", b"1", b"b1"]),
        (U, _cmd("MULTI")),
        (U, _eval("return redis.call('del', KEYS[1])", "a1")),
        (U, _eval("return redis.call('get', KEYS[1])", "a1")),
        (U, _cmd("EXEC")),
        (U, [b"FUNCTION", b"LOAD", LIBRARY]),
        (U, _cmd("FCALL deleter 1 a1")),
        (U, _cmd("FCALL_RO reader 1 a1")),
        (A, _cmd("FUNCTION DELETE acllib")),
        (V, _cmd("AUTH s2 pw")),
        (V, _eval("return redis.call('get', KEYS[1])", "x1")),
        (V, _eval("return redis.call('set', KEYS[1], 'v')", "x1")),
        (V, _eval("return redis.call('get', KEYS[1])", "a1")),
        (A, _cmd("ACL LOG")),
        (A, _cmd("DEL a1")),
        (A, _cmd("DEL r1")),
        (A, _cmd("ACL LOG RESET")),
    ],
    "no aclfile": [
        (A, _cmd("ACL SAVE")),
        (A, _cmd("ACL LOAD")),
    ],
}

CLEANUP = [
    (A, _cmd("ACL SETUSER default reset on nopass ~* &* +@all")),
    (A, _cmd("ACL LOG RESET")),
]


@pytest.fixture(scope="module")
def ports() -> Iterator[tuple[int, int]]:
    with redis_server() as redis_port, RouterThread(shards=3) as router:
        yield redis_port, router.port


def _clean(port: int) -> None:
    users = run(port, [(A, _cmd("ACL USERS"))])[0][1]
    others = [name for name in users if name != b"default"]
    if others:
        run(port, [(A, [b"ACL", b"DELUSER", *others])])
    run(port, CLEANUP)


@pytest.mark.parametrize("name", sorted(CASES))
def test_acl_as_redis(ports, name):
    redis_port, router_port = ports
    _clean(redis_port)
    _clean(router_port)
    expected = run(redis_port, CASES[name])
    got = run(router_port, CASES[name])
    assert got == expected


def test_genpass_lengths(ports):
    for port in ports:
        (_, default), (_, five), (_, bits) = run(
            port,
            [(A, _cmd("ACL GENPASS")), (A, _cmd("ACL GENPASS 5")), (A, _cmd("ACL GENPASS 130"))],
        )
        assert re.fullmatch(rb"[0-9a-f]{64}", default)
        assert re.fullmatch(rb"[0-9a-f]{2}", five)
        assert re.fullmatch(rb"[0-9a-f]{33}", bits)


def test_category_commands_as_redis(ports):
    """ACL CAT <category> lists the same commands, for the commands both know."""
    redis_port, router_port = ports
    ours_known = {spec.name.encode() for spec in TABLE.values()}
    ours_known |= {
        sub.name.encode() for spec in TABLE.values() for sub in spec.subcommands.values()
    }
    theirs_known = set(run(redis_port, [(A, _cmd("COMMAND LIST"))])[0][1])
    for spec in run(redis_port, [(A, _cmd("COMMAND"))])[0][1]:
        theirs_known |= {sub[0] for sub in spec[9]} if len(spec) > 9 else set()
    for category in run(router_port, [(A, _cmd("ACL CAT"))])[0][1]:
        ours = set(run(router_port, [(A, [b"ACL", b"CAT", category])])[0][1])
        theirs = set(run(redis_port, [(A, [b"ACL", b"CAT", category])])[0][1])
        assert {n for n in ours if n in theirs_known} == {n for n in theirs if n in ours_known}, (
            category
        )


@pytest.fixture()
def aclfiles(tmp_path: Path) -> Iterator[tuple[int, int, Path, Path]]:
    redis_file = tmp_path / "redis.acl"
    router_file = tmp_path / "router.acl"
    text = b"user default on nopass ~* &* +@all\nuser f on #" + b"b" * 64 + b" ~f* -@all +get\n"
    redis_file.write_bytes(text)
    router_file.write_bytes(text)
    with (
        redis_server("--aclfile", str(redis_file)) as redis_port,
        RouterThread(shards=1, aclfile=router_file) as router,
    ):
        yield redis_port, router.port, redis_file, router_file


def test_save_and_load_as_redis(aclfiles):
    redis_port, router_port, redis_file, router_file = aclfiles
    steps = [
        (A, _cmd("ACL LOAD")),
        (A, _cmd("ACL LIST")),
        (A, _cmd("ACL SETUSER g on >pw ~g* +@read")),
        (A, _cmd("ACL SAVE")),
        (A, _cmd("ACL DELUSER g")),
        (A, _cmd("ACL LOAD")),
        (A, _cmd("ACL LIST")),
    ]
    assert run(router_port, steps) == run(redis_port, steps)
    assert router_file.read_bytes() == redis_file.read_bytes()
    bad = (
        b"user default on nopass ~* &* +@all\nuser h on +nosuch\nnotuser x\nuser h on\n"
        b'user "a b" on\nuser q (+get\nuser\nuser z on >x >y extra!\n\n# comment\n'
        b"  user  w   on  \n"
    )
    redis_file.write_bytes(bad)
    router_file.write_bytes(bad)
    steps = [(A, _cmd("ACL LOAD")), (A, _cmd("ACL LIST"))]
    ours = run(router_port, steps)
    theirs = run(redis_port, steps)
    # The error names each file's own path.
    assert ours[0][1][1].replace(str(router_file), "F") == theirs[0][1][1].replace(
        str(redis_file), "F"
    )
    assert ours[1:] == theirs[1:]

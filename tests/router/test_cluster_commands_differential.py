"""CLUSTER, ASKING, WAIT, ROLE and the persistence commands byte for byte against a real
redis-server 7.0 where they should be the same: the argument errors, WAIT inside MULTI,
SAVE refused inside MULTI, a master without replicas (the in-process router has none),
and the shapes of CLUSTER SLOTS / SHARDS / NODES / INFO against a one-node cluster-mode
server, with the addresses and ids normalized.

WAITAOF is Redis 7.2's: 7.0 does not know it, so its errors are checked against Redis
7.2's texts in tests/router/test_cluster_commands.py instead."""

from __future__ import annotations

import re
import shutil
import tempfile
import time

import pytest

from tests.differential.harness import RawRedis
from tests.router.support import RouterThread, pack
from tests.router.test_differential_local import exchange
from tests.support.processes import redis_server


@pytest.fixture(scope="module")
def router_port():
    with RouterThread(shards=3) as thread:
        yield thread.port


@pytest.fixture(scope="module")
def cluster_redis_port():
    """A cluster-mode redis-server that serves every slot."""
    directory = tempfile.mkdtemp(prefix="slotraft-cluster-redis-")
    try:
        with redis_server(
            "--cluster-enabled", "yes", "--cluster-config-file", f"{directory}/nodes.conf"
        ) as port:
            connection = RawRedis(port)
            connection.call([b"CLUSTER", b"ADDSLOTSRANGE", b"0", b"16383"])
            deadline = time.monotonic() + 30
            while b"cluster_state:ok" not in connection.call([b"CLUSTER", b"INFO"]):
                assert time.monotonic() < deadline, "the cluster-mode server never got ready"
                time.sleep(0.05)
            connection.close()
            yield port
    finally:
        shutil.rmtree(directory, ignore_errors=True)


SERVER_CASES = {
    "wait errors": pack(b"WAIT", b"1", b"-1")
    + pack(b"WAIT", b"x", b"0")
    + pack(b"WAIT", b"1", b"x")
    + pack(b"WAIT", b"1", b"1.5")
    + pack(b"WAIT", b"1", b"99999999999999999999")
    + pack(b"WAIT", b"1")
    + pack(b"WAIT", b"1", b"2", b"3"),
    # Nothing to wait for: answered at once, as a master without replicas.
    "wait for nothing": pack(b"WAIT", b"-1", b"0") + pack(b"WAIT", b"0", b"0"),
    # Inside MULTI WAIT is queued and answers at once in EXEC (a blocking WAIT would make
    # the exchange time out); its argument errors come from EXEC.
    "wait in multi": pack(b"MULTI")
    + pack(b"WAIT", b"5", b"0")
    + pack(b"WAIT", b"1", b"-1")
    + pack(b"EXEC"),
    "wait with its timeout": pack(b"SET", b"k", b"v") + pack(b"WAIT", b"1", b"50"),
    "save in multi": pack(b"MULTI") + pack(b"SAVE") + pack(b"PING") + pack(b"EXEC"),
    "persistence arity and syntax": pack(b"SAVE", b"x")
    + pack(b"BGSAVE", b"foo")
    + pack(b"BGSAVE", b"schedule", b"x")
    + pack(b"BGREWRITEAOF", b"x")
    + pack(b"LASTSAVE", b"x")
    + pack(b"ROLE", b"x"),
    "role of a master without replicas": pack(b"ROLE"),
}


@pytest.mark.parametrize("name", sorted(SERVER_CASES))
def test_like_redis(redis_port, router_port, name):
    data = SERVER_CASES[name]
    ours = exchange(router_port, data)
    theirs = exchange(redis_port, data)
    assert ours == theirs


CLUSTER_CASES = {
    "keyslot": pack(b"CLUSTER", b"KEYSLOT", b"a")
    + pack(b"CLUSTER", b"KEYSLOT", b"{user}:1")
    + pack(b"CLUSTER", b"KEYSLOT", b"")
    + pack(b"CLUSTER", b"KEYSLOT", b"{}x")
    + pack(b"CLUSTER", b"KEYSLOT")
    + pack(b"CLUSTER", b"KEYSLOT", b"a", b"b"),
    "slot arguments": pack(b"CLUSTER", b"COUNTKEYSINSLOT", b"16384")
    + pack(b"CLUSTER", b"COUNTKEYSINSLOT", b"-1")
    + pack(b"CLUSTER", b"COUNTKEYSINSLOT", b"x")
    + pack(b"CLUSTER", b"COUNTKEYSINSLOT", b"01")
    + pack(b"CLUSTER", b"GETKEYSINSLOT", b"1", b"-1")
    + pack(b"CLUSTER", b"GETKEYSINSLOT", b"x", b"1")
    + pack(b"CLUSTER", b"GETKEYSINSLOT", b"1", b"x")
    + pack(b"CLUSTER", b"GETKEYSINSLOT", b"16384", b"1")
    + pack(b"CLUSTER", b"GETKEYSINSLOT", b"x", b"-1")
    + pack(b"CLUSTER", b"GETKEYSINSLOT", b"1")
    + pack(b"CLUSTER", b"COUNTKEYSINSLOT"),
    "keys of a slot": pack(b"DEL", b"{d}1", b"{d}2", b"{d}3")
    + pack(b"CLUSTER", b"COUNTKEYSINSLOT", b"2555")
    + pack(b"MSET", b"{d}1", b"a", b"{d}2", b"b", b"{d}3", b"c")
    + pack(b"CLUSTER", b"KEYSLOT", b"{d}1")
    + pack(b"CLUSTER", b"COUNTKEYSINSLOT", b"2555")
    + pack(b"CLUSTER", b"GETKEYSINSLOT", b"2555", b"0")
    + pack(b"CLUSTER", b"GETKEYSINSLOT", b"2555", b"1")
    + pack(b"DEL", b"{d}1", b"{d}2", b"{d}3"),
    "unknown subcommands": pack(b"CLUSTER", b"NOSUCH")
    + pack(b"CLUSTER")
    + pack(b"CLUSTER", b"REPLICAS", b"abc")
    + pack(b"CLUSTER", b"SLAVES", b"0123456789012345678901234567890123456789")
    + pack(b"CLUSTER", b"MYID", b"x"),
    "asking": pack(b"ASKING") + pack(b"ASKING", b"x"),
}


@pytest.mark.parametrize("name", sorted(CLUSTER_CASES))
def test_like_redis_cluster(cluster_redis_port, router_port, name):
    data = CLUSTER_CASES[name]
    assert exchange(router_port, data) == exchange(cluster_redis_port, data)


def anonymous(reply: bytes, port: int) -> bytes:
    """A reply with the node's id, address and port made the same for every server: a
    cluster-mode redis-server without cluster-announce-ip gives an empty host."""
    reply = re.sub(rb"\b[0-9a-f]{40}\b", b"ID", reply)
    reply = reply.replace(b":%d\r\n" % port, b":PORT\r\n").replace(b":%d@" % port, b":PORT@")
    reply = reply.replace(b"$9\r\n127.0.0.1\r\n", b"$0\r\n\r\n")
    return reply.replace(b":PORT@0 ", b":PORT@CPORT ").replace(
        b":PORT@%d " % (port + 10000), b":PORT@CPORT "
    )


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
@pytest.mark.parametrize("subcommand", [b"SLOTS", b"SHARDS"])
def test_the_shapes_of_the_cluster_views(cluster_redis_port, router_port, resp3, subcommand):
    hello = pack(b"HELLO", b"3") if resp3 else b""
    data = hello + pack(b"CLUSTER", subcommand)
    ours = exchange(router_port, data)
    theirs = exchange(cluster_redis_port, data)
    if resp3:  # HELLO's own reply differs (mode, id)
        ours, theirs = ours[ours.index(b"*0\r\n") + 4 :], theirs[theirs.index(b"*0\r\n") + 4 :]
    assert anonymous(ours, router_port) == anonymous(theirs, cluster_redis_port)


def test_cluster_nodes_line_as_redis_writes_it(cluster_redis_port, router_port):
    def line(port: int) -> bytes:
        connection = RawRedis(port)
        try:
            text = connection.call([b"CLUSTER", b"NODES"])
        finally:
            connection.close()
        return anonymous(text.replace(b"127.0.0.1:", b":"), port)

    assert line(router_port) == line(cluster_redis_port)


def test_cluster_info_has_redis_fields_in_redis_order(cluster_redis_port, router_port):
    def fields(port: int) -> list[bytes]:
        connection = RawRedis(port)
        try:
            text = connection.call([b"CLUSTER", b"INFO"])
        finally:
            connection.close()
        assert text.endswith(b"\r\n")
        return [line.split(b":")[0] for line in text.split(b"\r\n") if line]

    assert fields(router_port) == fields(cluster_redis_port)

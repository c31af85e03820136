"""Sharded pub/sub byte for byte against a cluster-mode redis-server 7.0 (a shard channel
is a key there: the channels of one SSUBSCRIBE or SUNSUBSCRIBE must share a slot), RESP2
and RESP3, through an in-process router. The same-slot cases against a standalone
redis-server are in tests/router/test_pubsub.py."""

from __future__ import annotations

import re

import pytest

from tests.router.support import RouterThread, pack
from tests.router.test_cluster_commands_differential import cluster_redis_port
from tests.router.test_pubsub import OTHER, PUB, SUB, normalize, transcript

__all__ = ["cluster_redis_port"]  # the fixture, shared with the CLUSTER commands' tests


@pytest.fixture(scope="module")
def router_port():
    with RouterThread(shards=3) as thread:
        yield thread.port


CASES: dict[str, list[tuple[str, bytes]]] = {
    "crossslot": [
        (SUB, pack(b"SSUBSCRIBE", b"a", b"b") + pack(b"GET", b"pubsub:k")),
        (SUB, pack(b"SSUBSCRIBE", b"{a}1", b"{a}2", b"a")),
        (PUB, pack(b"SPUBLISH", b"{a}2", b"m") + pack(b"SPUBLISH", b"a", b"n")),
        (SUB, pack(b"SSUBSCRIBE", b"x", b"y") + pack(b"SUNSUBSCRIBE", b"a", b"x")),
        (SUB, pack(b"SSUBSCRIBE", b"x") + pack(b"SUNSUBSCRIBE", b"{a}1", b"{a}2")),
        (PUB, pack(b"PUBSUB", b"SHARDNUMSUB", b"a", b"x", b"{a}1", b"b")),
        (PUB, pack(b"PUBSUB", b"SHARDCHANNELS", b"[x]") + pack(b"PUBSUB", b"SHARDCHANNELS", b"{*")),
        (SUB, pack(b"SUNSUBSCRIBE", b"a")),
        (SUB, pack(b"SUNSUBSCRIBE") + pack(b"GET", b"pubsub:k")),
    ],
    "crossslot resp3": [
        (SUB, pack(b"HELLO", b"3") + pack(b"SSUBSCRIBE", b"a", b"b")),
        (SUB, pack(b"SSUBSCRIBE", b"{b}", b"b") + pack(b"GET", b"pubsub:k")),
        (OTHER, pack(b"HELLO", b"3") + pack(b"SSUBSCRIBE", b"b") + pack(b"SUBSCRIBE", b"b")),
        (PUB, pack(b"SPUBLISH", b"b", b"both") + pack(b"PUBLISH", b"b", b"plain")),
        (SUB, pack(b"SUNSUBSCRIBE", b"b", b"c") + pack(b"SUNSUBSCRIBE", b"b", b"{b}")),
        (OTHER, pack(b"UNSUBSCRIBE") + pack(b"SUNSUBSCRIBE") + pack(b"SUNSUBSCRIBE")),
    ],
}


def _normalize(data: bytes) -> bytes:
    """HELLO's mode: the routers say "standalone" (not this module's concern)."""
    return re.sub(rb"\$4\r\nmode\r\n\$\d+\r\n\w+\r\n", b"MODE", normalize(data))


@pytest.mark.parametrize("name", sorted(CASES))
def test_sharded_pubsub_as_redis_cluster(cluster_redis_port, router_port, name):
    steps = CASES[name]
    expected = [(who, _normalize(data)) for who, data in transcript(cluster_redis_port, steps)]
    got = [(who, _normalize(data)) for who, data in transcript(router_port, steps)]
    assert got == expected

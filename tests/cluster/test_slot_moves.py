"""`slotraft ctl move-slots` on a real cluster: a slot range holding 10k keys moves from
shard 0 to shard 1 while a writer and a reader run; every acknowledged write reads back,
no client sees MOVED or ASK, a TTL keeps its TTL, a BLPOP waiting on a moved key gets the
value pushed after the move; bad moves are refused and change nothing."""

from __future__ import annotations

import argparse
import io
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from proto.slots import key_slot
from slotraft.ctl_slots import SlotMover, run_move
from slotraft.local_cluster import LocalCluster
from tests.cluster.conftest import dump_logs, start_cluster, stop_cluster

pytestmark = pytest.mark.slow

FIRST, LAST = 0, 99  # held by shard 0 of 3
KEYS_PER_SLOT = 100


def tags_for(first: int, last: int) -> dict[int, bytes]:
    """A hash tag per slot of [first, last]."""
    tags: dict[int, bytes] = {}
    n = 0
    while len(tags) < last - first + 1:
        tag = b"t%d" % n
        slot = key_slot(tag)
        if first <= slot <= last and slot not in tags:
            tags[slot] = tag
        n += 1
    return tags


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest) -> Iterator[LocalCluster]:
    running = start_cluster(routers=1)
    yield running
    if request.session.testsfailed:
        print(dump_logs(running))
    stop_cluster(running)


def client(cluster: LocalCluster, timeout: float = 20.0) -> redis.Redis:
    return redis.Redis(port=cluster.router_ports[0], socket_timeout=timeout)


def mover(cluster: LocalCluster, out: io.StringIO) -> SlotMover:
    assert cluster.description is not None
    addresses = [node.raft_address for node in cluster.description.nodes]
    return SlotMover(cluster.admin(), addresses, 3.0, out)


def ctl_move(cluster: LocalCluster, text: str, target: int) -> tuple[int, str]:
    assert cluster.description is not None
    addresses = [node.raft_address for node in cluster.description.nodes]
    args = argparse.Namespace(range=text, target=target, chunk_bytes=1 << 20, timeout=3.0)
    out = io.StringIO()
    code = run_move(args, cluster.admin(), addresses, out)
    return code, out.getvalue()


def shard_holding(cluster: LocalCluster, slot: int) -> int:
    slot_map = max((a.slot_map for a in cluster.status()), key=lambda m: m.epoch)
    for shard in slot_map.shards:
        if any(r.first <= slot <= r.last for r in shard.slots):
            return shard.id
    raise KeyError(slot)


def test_a_range_moves_online(cluster: LocalCluster) -> None:
    tags = tags_for(FIRST, LAST)
    setup = client(cluster)
    pipe = setup.pipeline(transaction=False)
    for tag in tags.values():
        for i in range(KEYS_PER_SLOT):
            pipe.set(b"{%s}:%d" % (tag, i), b"v%d" % i)
    pipe.execute()
    ttl_key = b"{%s}:ttl" % tags[FIRST]
    setup.set(ttl_key, b"x", px=100_000)
    queue = b"{%s}:queue" % tags[FIRST + 5]

    # Writers and a reader run throughout: counters inside and outside the range.
    counters = [b"{%s}:counter" % tags[slot] for slot in (FIRST, FIRST + 50, LAST)]
    counters.append(b"outside:counter")
    acked: dict[bytes, int] = {key: 0 for key in counters}
    errors: list[str] = []
    stop = threading.Event()

    def write() -> None:
        writer = client(cluster)
        while not stop.is_set():
            for key in counters:
                try:
                    acked[key] = int(writer.incr(key))
                except redis.RedisError as error:
                    errors.append(f"INCR {key!r}: {error}")

    def read() -> None:
        reader = client(cluster)
        while not stop.is_set():
            for key in counters:
                seen = acked[key]
                try:
                    value = int(reader.get(key) or 0)
                except redis.RedisError as error:
                    errors.append(f"GET {key!r}: {error}")
                    continue
                if value < seen:  # linearizable: at least what was acknowledged before
                    errors.append(f"GET {key!r} = {value} after {seen} was acknowledged")

    popped: list[list[bytes] | None] = []

    def block() -> None:
        popped.append(client(cluster, timeout=60).blpop([queue], timeout=50))  # type: ignore[arg-type]

    threads = [threading.Thread(target=f) for f in (write, read, block)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    out = io.StringIO()
    try:
        progress = mover(cluster, out).move(FIRST, LAST, 1)
        time.sleep(1.0)
        setup.rpush(queue, b"pushed")
    finally:
        time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join(60)
    print(out.getvalue())
    assert progress.keys >= len(tags) * KEYS_PER_SLOT  # and the keys written meanwhile
    assert progress.dropped == len(tags) * KEYS_PER_SLOT + len(counters) - 1 + 1  # + ttl
    assert errors == []
    assert [tuple(p) for p in popped if p] == [(queue, b"pushed")]
    assert shard_holding(cluster, FIRST) == 1 and shard_holding(cluster, LAST) == 1
    assert shard_holding(cluster, LAST + 1) == 0
    check = client(cluster)
    for key, value in acked.items():
        assert int(check.get(key) or 0) == value
    for tag in list(tags.values())[::7]:
        assert check.get(b"{%s}:%d" % (tag, KEYS_PER_SLOT - 1)) == b"v%d" % (KEYS_PER_SLOT - 1)
    assert 0 < check.pttl(ttl_key) <= 100_000
    # The routers serve every slot (CLUSTER SLOTS splits them by router, whatever the
    # shards); the slot's keys are counted on the shard that holds it now.
    assert check.execute_command("CLUSTER", "COUNTKEYSINSLOT", FIRST) == KEYS_PER_SLOT + 2
    assert "slot moves in flight: none" in _status_moves(cluster)


def _status_moves(cluster: LocalCluster) -> str:
    from slotraft.ctl_slots import render_moves

    return render_moves(mover(cluster, io.StringIO()).moves())


def test_bad_moves_are_refused_and_change_nothing(cluster: LocalCluster) -> None:
    epoch = max(a.slot_map.epoch for a in cluster.status())
    code, _ = ctl_move(cluster, "200-300", 0)  # shard 0 holds them already
    assert code == 1
    code, _ = ctl_move(cluster, "200-300", 7)  # no shard 7
    assert code == 1
    code, _ = ctl_move(cluster, "5000-6000", 2)  # held by two shards
    assert code == 1
    code, _ = ctl_move(cluster, "300-200", 1)  # not a range
    assert code == 2
    assert max(a.slot_map.epoch for a in cluster.status()) == epoch
    assert mover(cluster, io.StringIO()).moves() == []


def test_a_move_is_resumed_where_it_stopped(cluster: LocalCluster) -> None:
    """A ctl that stopped after the fence, and the source's leader killed: the next ctl
    takes the move up through the election and finishes; nothing is lost."""
    slots = (400, 409)
    tags = tags_for(*slots)
    setup = client(cluster)
    for tag in tags.values():
        setup.set(b"{%s}:k" % tag, b"v")
    first = mover(cluster, io.StringIO())
    first.step("move-begin", "resume1", *slots, source=0, target=2)
    first.step("fence", "resume1", *slots, shard=0)
    # A second move of slots that are moving is refused, and changes nothing.
    code, _ = ctl_move(cluster, "405-420", 1)
    assert code == 1
    assert [m["id"] for m in first.moves()] == ["resume1"]
    leader = cluster.node(cluster.leader_of(0))
    cluster.kill(leader)
    try:
        code, text = ctl_move(cluster, "400-409", 2)
    finally:
        cluster.start_process(leader)
    assert code == 0, text
    assert "resuming move resume1" in text
    assert shard_holding(cluster, 405) == 2
    assert all(setup.get(b"{%s}:k" % tag) == b"v" for tag in tags.values())
    cluster.wait_until_serving(60)

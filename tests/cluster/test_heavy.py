"""One heavy command must not starve Raft: the security review's finding, end to end.

`ZRANDMEMBER key -1000000` on a 50,000-member sorted set (a count inside the draw limit)
used to hold a node's event loop for seconds: no heartbeats went out, followers elected
new leaders, and the router re-sent the same read to each of them until its retry budget
ran out (CLUSTERDOWN after 15 s, re-elections on two shards). Now the command gets its
reply or the limit error, the cluster keeps answering other commands meanwhile, and the
shard keeps its leader and term. No timing is asserted: only replies, leaders and terms.

A machine that starves a node (CPU contention on a 2-core runner) can cost a leader its term
without any fault of the node's; the nodes log every stall of their event loop with the CPU
they used meanwhile (node/host.py). A term change is accepted only when a node stalled for
want of CPU; a stall the node spent computing, or an election with no stall, fails.
"""

from __future__ import annotations

import threading

import pytest
import redis

from slotraft.benchmarks.heavy import leaders_and_terms
from slotraft.local_cluster import LocalCluster
from tests.cluster.conftest import STALL, running_cluster, wait_for_preferred_leaders

pytestmark = pytest.mark.slow

MEMBERS = 50_000
KEY = b"heavy:zset"


def assert_term_kept_or_starved(
    cluster: LocalCluster,
    shard: int,
    before: dict[int, tuple[int, int]],
    after: dict[int, tuple[int, int]],
) -> None:
    """The shard kept its leader and term, or lost them while a node was starved of CPU."""
    if after.get(shard) == before[shard]:
        return
    stalls = [
        (int(stalled), int(cpu))
        for process in cluster.processes
        if process.role == "node" and process.log.exists()
        for stalled, cpu in STALL.findall(process.log.read_bytes())
    ]
    busy = [(stalled, cpu) for stalled, cpu in stalls if cpu * 2 > stalled]
    assert stalls and not busy, ("term changed", before, after, "stalls (ms, cpu ms)", stalls)
    print(f"shard {shard} changed term while the machine starved a node: stalls {stalls}")


def load_zset(client: redis.Redis) -> None:
    pipe = client.pipeline(transaction=False)
    for start in range(0, MEMBERS, 5_000):
        pipe.zadd(KEY, {b"member:%06d" % i: i for i in range(start, start + 5_000)})
    pipe.execute()
    assert client.zcard(KEY) == MEMBERS


def test_zrandmember_with_a_huge_negative_count_neither_starves_raft_nor_gets_clusterdown():
    with running_cluster() as cluster:
        port = cluster.router_ports[0]
        client = redis.Redis(port=port, socket_timeout=60)
        load_zset(client)
        wait_for_preferred_leaders(cluster)
        shard = cluster.shard_of(KEY)
        before = leaders_and_terms(cluster)

        outcomes: list[object] = []

        def heavy() -> None:
            heavy_client = redis.Redis(port=port, socket_timeout=60)
            for args in (
                [b"ZRANDMEMBER", KEY, b"-1000000"],
                [b"ZRANDMEMBER", KEY, b"-1000000", b"WITHSCORES"],
                [b"ZRANDMEMBER", KEY, b"-100000", b"WITHSCORES"],
            ):
                try:
                    outcomes.append(heavy_client.execute_command(*args))
                except redis.RedisError as error:
                    outcomes.append(error)

        runner = threading.Thread(target=heavy, daemon=True)
        runner.start()
        # Meanwhile other clients' commands, on every shard, keep being answered.
        probes = cluster.probe_keys()
        answered = 0
        while runner.is_alive() or answered < 20:
            for key in probes:
                client.set(key, b"%d" % answered)
                assert client.get(key) == b"%d" % answered
            assert client.zcard(KEY) == MEMBERS
            answered += 1
        runner.join()

        assert len(outcomes) == 3
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                assert "max-command-work" in str(outcome), outcome
                assert "CLUSTERDOWN" not in str(outcome)
            else:
                assert isinstance(outcome, list) and outcome
        assert_term_kept_or_starved(cluster, shard, before, leaders_and_terms(cluster))


def test_heavy_writes_batched_into_one_entry_are_applied_in_slices_without_an_election():
    """Four clients each pipeline eight ZADDs of 25,000 members to one shard: the leader
    proposes what arrived together as one entry, of seconds of work in all, and every
    replica applies it. Applied in slices between commands (ShardState.apply_steps), the
    entry leaves room for the heartbeats: the shard keeps its leader and term."""
    with running_cluster() as cluster:
        port = cluster.router_ports[0]
        client = redis.Redis(port=port, socket_timeout=120)
        wait_for_preferred_leaders(cluster)
        keys = [b"{heavy-writes}:%d" % i for i in range(32)]
        shard = cluster.shard_of(keys[0])
        before = leaders_and_terms(cluster)
        members = {b"m%06d" % i: i for i in range(25_000)}
        errors: list[BaseException] = []
        barrier = threading.Barrier(4)

        def writer(index: int) -> None:
            try:
                own = redis.Redis(port=port, socket_timeout=120)
                pipe = own.pipeline(transaction=False)
                for key in keys[index * 8 : index * 8 + 8]:
                    pipe.zadd(key, members)
                barrier.wait()
                assert pipe.execute() == [len(members)] * 8
            except BaseException as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(180)
        assert not errors, errors
        assert [client.zcard(key) for key in keys] == [len(members)] * len(keys)
        cluster.wait_until_caught_up(60)
        assert_term_kept_or_starved(cluster, shard, before, leaders_and_terms(cluster))

"""Keyspace notifications outside what the differential test reaches: keys expired by
the leader's expiry entries and lazily, evicted keys, reads served outside the log, and
who publishes (the leader, for entries of its term; followers drop theirs)."""

from __future__ import annotations

import asyncio
import random

from node import entry_codec
from node.engine.engine import Engine
from node.notifications import channels_of
from node.raft import EntryType, Ready
from node.raft.types import Entry
from node.replica import ShardReplica
from node.shard_state import ShardState
from proto import resp
from proto import slotraft_pb2 as pb
from proto.kv_commands import set_commands
from proto.topology import ShardPlacement
from tests.raft.harness import Cluster

RNG = random.Random(0)


def engine(setting: str) -> Engine:
    made = Engine()
    made.config.notify_keyspace_events = setting
    return made


def test_keys_expired_by_an_expiry_entry_notify_expired_once():
    shard = engine("Ex")
    shard.execute([b"SET", b"a", b"1", b"PX", b"100"], 1_000, RNG)
    shard.execute([b"SET", b"b", b"1", b"PX", b"100"], 1_000, RNG)
    shard.execute([b"SET", b"c", b"1"], 1_000, RNG)
    assert shard.db.take_events() == []  # only x is on
    # The expiry entry lists keys the leader saw expired; "c" has no TTL, "a" is gone.
    shard.execute([b"DEL", b"a"], 1_050, RNG)
    assert shard.apply_expire([b"a", b"b", b"c"], 1_200) == 1
    assert shard.db.take_events() == [("x", b"expired", b"b")]
    assert shard.apply_expire([b"b"], 1_300) == 0
    assert shard.db.take_events() == []


def test_a_key_expired_lazily_notifies_expired_then_what_the_command_does():
    shard = engine("KEA")
    shard.execute([b"RPUSH", b"l", b"a"], 1_000, RNG)
    shard.execute([b"PEXPIRE", b"l", b"10"], 1_000, RNG)
    shard.db.take_events()
    shard.execute([b"RPUSH", b"l", b"b"], 2_000, RNG)
    assert shard.db.take_events() == [("x", b"expired", b"l"), ("l", b"rpush", b"l")]
    assert shard.db.expired_keys == 1


def test_evicted_keys_notify_evicted():
    shard = engine("KEe")
    shard.execute([b"SET", b"a", b"1"], 1_000, RNG)
    shard.execute([b"HSET", b"h", b"f", b"v"], 1_000, RNG)
    assert shard.apply_evict([b"a", b"gone", b"h"]) == 2
    assert shard.db.take_events() == [("e", b"evicted", b"a"), ("e", b"evicted", b"h")]
    assert channels_of([("e", b"evicted", b"a")], "KEe") == [
        (b"__keyspace@0__:a", b"evicted"),
        (b"__keyevent@0__:evicted", b"a"),
    ]


def test_a_read_outside_the_log_keeps_its_events_apart_from_the_entrys():
    shard = engine("KEAm")
    shard.execute([b"SET", b"a", b"1"], 1_000, RNG)  # an entry half applied: its events
    shard.execute_readonly([b"GET", b"missing"], 1_000, RNG)
    shard.execute_readonly([b"OBJECT", b"ENCODING", b"missing"], 1_000, RNG)  # NONOTIFY
    assert shard.db.take_events() == [("$", b"set", b"a")]
    assert shard.read_events == [("m", b"keymiss", b"missing")]


def test_a_write_looking_a_key_up_is_no_keymiss_but_getdel_is():
    shard = engine("Em")
    shard.execute([b"INCR", b"n"], 1_000, RNG)
    shard.execute([b"LPOP", b"l"], 1_000, RNG)
    assert shard.db.take_events() == []
    shard.execute([b"GETDEL", b"l"], 1_000, RNG)
    assert shard.db.take_events() == [("m", b"keymiss", b"l")]


def _entry(*commands: list[bytes], sequence: int = 1) -> bytes:
    request = entry_codec.Request(7, sequence, 0, entry_codec.COMMANDS, False, list(commands), [])
    return entry_codec.encode(entry_codec.ShardEntry(5_000, 3, [request], [], []))


def _replica(cluster: Cluster, node: int) -> tuple[ShardReplica, list[tuple[bytes, bytes]]]:
    state = ShardState()
    state.engine.config.notify_keyspace_events = "KEA"
    replica = ShardReplica(
        node, ShardPlacement(0, ((0, 16383),), (1, 2, 3)), cluster.nodes[node], state, 0
    )
    published: list[tuple[bytes, bytes]] = []
    replica.publish = lambda channel, message: published.append((channel, message))
    return replica, published


def _apply(replica: ShardReplica, *entries: Entry) -> None:
    ready = Ready()
    ready.committed_entries = entries
    replica.on_ready(ready)
    while replica.apply_pending(deadline=float("inf")):
        pass


def test_only_the_leader_publishes_and_only_entries_of_its_term():
    cluster = Cluster()
    cluster.elect(1)
    term = cluster.nodes[1].term
    leader, from_leader = _replica(cluster, 1)
    follower, from_follower = _replica(cluster, 2)
    before = _entry([b"SET", b"old", b"v"])
    data = _entry([b"SET", b"k", b"v", b"PX", b"50"], [b"GET", b"k"], sequence=2)
    expired = entry_codec.encode(entry_codec.ShardEntry(6_000, 3, [], [b"k"], []))
    for replica in (leader, follower):
        _apply(
            replica,
            Entry(1, term - 1, EntryType.NORMAL, before),  # a previous leader's: maybe published
            Entry(2, term, EntryType.NORMAL, data),
            Entry(3, term, EntryType.NORMAL, b""),
        )
        # The entries of every replica are taken: none pile up, published or not.
        assert replica.state.engine.db.events == []
    assert from_follower == []
    assert from_leader == [
        (b"__keyspace@0__:k", b"set"),
        (b"__keyevent@0__:set", b"k"),
        (b"__keyspace@0__:k", b"expire"),
        (b"__keyevent@0__:expire", b"k"),
    ]
    from_leader.clear()
    for replica in (leader, follower):
        _apply(replica, Entry(4, term, EntryType.NORMAL, expired))
    assert from_leader == [(b"__keyspace@0__:k", b"expired"), (b"__keyevent@0__:expired", b"k")]
    assert from_follower == []


def test_a_read_served_outside_the_log_publishes_its_keymiss_from_the_serving_replica():
    cluster = Cluster()
    cluster.elect(1)
    follower, published = _replica(cluster, 2)
    follower.state.engine.config.notify_keyspace_events = "Km"
    request = pb.KvRequest(id=1, kind=pb.COMMANDS, read_only=True, consistency=pb.FOLLOWER)
    set_commands(request, [[b"GET", b"nothing"], [b"EXISTS", b"nothing", b"nothing"]])

    async def scenario() -> pb.KvReply:
        return await asyncio.wait_for(follower.submit(request), 5)

    reply = asyncio.run(scenario())
    assert list(reply.replies) == [resp.encode(None), resp.encode(0)]
    assert published == [(b"__keyspace@0__:nothing", b"keymiss")] * 3
    assert follower.state.engine.read_events == []


def test_a_bitfield_whose_writes_all_fail_creates_the_key_without_setbit():
    """Redis's bitfieldGeneric notifies "setbit" only when a field was written; the key it
    created for the command is still "new" (found by the notifications differential)."""
    engine = Engine()
    engine.config.notify_keyspace_events = "KEAn"
    rng = random.Random(0)
    failing = [b"BITFIELD", b"k", b"OVERFLOW", b"FAIL", b"SET", b"u1", b"0", b"9"]
    assert engine.execute(failing, 1, rng) == [None]
    assert engine.db.take_events() == [("n", b"new", b"k")]
    assert engine.execute([b"BITFIELD", b"k", b"SET", b"u1", b"0", b"1"], 1, rng) == [0]
    assert engine.db.take_events() == [("$", b"setbit", b"k")]

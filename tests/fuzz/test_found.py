"""The cases the fuzzers found, kept as explicit regression tests (each failed before its
fix). The three-replica harness (tests/fuzz/replicas.py) checks replies and digests."""

from __future__ import annotations

from node import entry_codec
from node.entry_codec import Request, ShardEntry
from tests.fuzz.replicas import Shard


def _entry(time_ms: int, *commands: list[bytes], kind: int = entry_codec.COMMANDS) -> bytes:
    request = Request(0, 0, 0, kind, False, [list(c) for c in commands], [])
    return entry_codec.encode(ShardEntry(time_ms, 1, [request], [], []))


def test_randomkey_on_the_log_path_is_the_same_on_a_restored_replica():
    """RANDOMKEY drew from a list that keeps deleted keys until compaction; a replica
    restored from a snapshot has none, so in a transaction or a script (the log path) it
    answered another key than its peers, and a script that used the answer diverged."""
    shard = Shard()
    shard.apply(
        _entry(
            10,
            *[[b"SET", b"k%d" % i, b"x"] for i in range(8)],
            *[[b"DEL", b"k%d" % i] for i in range(0, 8, 2)],
        )
    )
    shard.restore_replica(2, 0)
    shard.apply(_entry(20, *[[b"RANDOMKEY"]] * 4, kind=entry_codec.TRANSACTION))
    shard.apply(_entry(30, [b"EVAL", b"return redis.call('DEL', redis.call('RANDOMKEY'))", b"0"]))


def test_a_refused_command_after_a_transaction_reports_no_changed_keys():
    """A transaction left the keys it changed in the keyspace's `changed` list, and a later
    command refused before it ran (a wrong argument count) reported them as its own: the
    replicas that had applied the transaction woke waiters on those keys, one restored from
    a snapshot in between did not."""
    shard = Shard()
    shard.apply(_entry(10, [b"HSET", b"k1", b"f1", b""], kind=entry_codec.TRANSACTION))
    shard.restore_replica(2, 0)
    _, changed, _ = shard.apply(_entry(20, [b"OBJECT", b"HELP", b"x"]))
    assert changed == []

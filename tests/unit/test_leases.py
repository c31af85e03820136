"""Leases in the engine (issue 27): grants, waits, voiding writes, stale values, the rate
limit, snapshots and determinism. Through a cluster: tests/cluster/test_leases.py."""

from __future__ import annotations

import random

import pytest

from node.engine.blocking import WouldBlock
from node.engine.engine import Engine
from node.engine.leases import LeaseTable
from node.engine.snapshot import SnapshotError, dump, load, load_into
from node.engine.t_lease import LEASE_NOT_VALID
from proto import resp
from proto.commands import lookup, may_block, timeout_index, timeout_reply

WAIT = [b"WAIT", None, None]


class Shard:
    """An engine with a clock, as the apply loop drives it."""

    def __init__(self, seed: int = 7) -> None:
        self.engine = Engine()
        self.rng = random.Random(seed)
        self.now = 1_000

    def __call__(self, *args: bytes | str | int) -> object:
        encoded = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        return self.engine.execute(encoded, self.now, self.rng)

    def grant(self, key: str = "k", ttl: int = 500) -> bytes:
        reply = self("LEASE.GET", key, ttl)
        assert isinstance(reply, list) and reply[0] == b"LEASE", reply
        return reply[2]


def test_one_caller_per_key_gets_the_lease_the_others_wait():
    shard = Shard()
    token = shard.grant()
    assert [shard("LEASE.GET", "k", 500) for _ in range(50)] == [WAIT] * 50
    assert shard.grant("other") != token  # each key its own lease
    assert shard("LEASE.SET", "k", token, "v") == resp.OK
    assert shard("LEASE.GET", "k", 500) == [b"HIT", b"v", None]
    assert shard("GET", "k") == b"v"
    # The lease was used: the token does not let a second value in.
    assert shard("LEASE.SET", "k", token, "w") == resp.Error(LEASE_NOT_VALID)


def test_a_waiter_blocks_on_the_key_at_most_until_the_lease_ends():
    shard = Shard()
    shard.grant(ttl=500)
    shard.now += 100
    blocked = shard("LEASE.GET", "k", 500, "BLOCK", 10_000)
    assert isinstance(blocked, WouldBlock)
    assert blocked.keys == [b"k"] and blocked.timeout == pytest.approx(0.4)
    short = shard("LEASE.GET", "k", 500, "BLOCK", 50)
    assert isinstance(short, WouldBlock) and short.timeout == pytest.approx(0.05)
    forever = shard("LEASE.GET", "k", 500, "BLOCK", 0)
    assert isinstance(forever, WouldBlock) and forever.timeout == pytest.approx(0.4)
    # Timed out (or the lease ended): WAIT, the same reply as without BLOCK.
    args = [b"LEASE.GET", b"k", b"500", b"BLOCK", b"50"]
    assert timeout_reply(args) == WAIT and timeout_index(args) == 4
    with pytest.raises(IndexError):  # never blocks: no timeout argument
        timeout_index([b"LEASE.GET", b"k", b"500"])
    spec = lookup(b"lease.get")
    assert spec is not None and not may_block(spec, [b"LEASE.GET", b"k", b"500"])


def test_an_expired_lease_passes_on_and_its_token_is_refused():
    shard = Shard()
    first = shard.grant(ttl=500)
    shard.now += 500
    second = shard.grant(ttl=500)
    assert second != first
    assert shard("LEASE.SET", "k", first, "old") == resp.Error(LEASE_NOT_VALID)
    assert shard("LEASE.SET", "k", second, "new") == resp.OK
    assert shard("GET", "k") == b"new"


@pytest.mark.parametrize(
    "invalidation",
    [
        ("DEL", "k"),  # the key is missing: DEL changes nothing, yet voids the lease
        ("UNLINK", "k"),
        ("SET", "k", "fresh"),
        ("SET", "k", "fresh", "NX"),
        ("EXPIRE", "k", "100"),
        ("MSET", "a", "1", "k", "2"),
        ("APPEND", "k", "x"),
        ("FLUSHALL",),
    ],
)
def test_a_write_of_the_key_voids_the_lease_so_a_stale_set_is_refused(invalidation):
    shard = Shard()
    token = shard.grant()
    shard(*invalidation)
    before = shard("GET", "k")
    assert shard("LEASE.SET", "k", token, "stale") == resp.Error(LEASE_NOT_VALID)
    assert shard("GET", "k") == before


def test_a_write_of_another_key_leaves_the_lease_alone():
    shard = Shard()
    token = shard.grant()
    shard("DEL", "other")
    shard("SET", "other", "1")
    assert shard("LEASE.SET", "k", token, "v") == resp.OK


def test_a_void_lease_wakes_its_waiters_to_ask_again():
    shard = Shard()
    shard.grant()
    db = shard.engine.db
    shard("DEL", "k")  # nothing deleted, but the waiters must learn the lease is gone
    assert db.changed == [b"k"]
    shard("DEL", "k")  # no lease any more: nothing to tell
    assert db.changed == []
    assert shard("LEASE.GET", "k", 500)[0] == b"LEASE"  # type: ignore[index]


def test_the_wrong_token_or_key_is_refused():
    shard = Shard()
    token = shard.grant("k")
    assert shard("LEASE.SET", "other", token, "v") == resp.Error(LEASE_NOT_VALID)
    assert shard("LEASE.SET", "k", int(token) + 1, "v") == resp.Error(LEASE_NOT_VALID)
    assert shard("LEASE.SET", "k", "not-a-token", "v") == resp.Error(LEASE_NOT_VALID)
    assert shard("LEASE.SET", "k", token, "v") == resp.OK


def test_stale_value_is_served_while_one_caller_recomputes():
    shard = Shard()
    shard("LEASE.SET", "k", shard.grant(), "v1", "PX", 1000, "STALE", 5000)
    assert shard("PTTL", "k") == 1000
    shard.now += 1000  # the value expires
    reply = shard("LEASE.GET", "k", 500, "STALE")
    assert reply[:2] == [b"LEASE", b"v1"]  # type: ignore[index]
    assert shard("LEASE.GET", "k", 500, "STALE") == [b"STALE", b"v1", None]
    assert shard("LEASE.GET", "k", 500) == WAIT  # without STALE
    shard.now += 5000  # past the stale window
    shard("LEASE.SET", "k", reply[2], "v2")  # type: ignore[index]
    shard("DEL", "k")  # kept again (STALE was not asked this time: nothing kept)
    assert shard("LEASE.GET", "k", 500, "STALE")[:2] == [b"LEASE", None]  # type: ignore[index]


def test_rate_limit_allows_one_grant_per_window():
    shard = Shard()
    token = shard.grant("k")
    shard("LEASE.SET", "k", token, "v")
    shard("DEL", "k")
    first = shard("LEASE.GET", "k", 100, "RATE", 1000)
    assert first[0] == b"LEASE"  # type: ignore[index]
    shard.now += 200  # the lease expired, but the window is not over
    assert shard("LEASE.GET", "k", 100, "RATE", 1000) == WAIT
    blocked = shard("LEASE.GET", "k", 100, "BLOCK", 5000)
    assert isinstance(blocked, WouldBlock) and blocked.timeout == pytest.approx(0.8)
    shard.now += 800
    assert shard("LEASE.GET", "k", 100, "RATE", 1000)[0] == b"LEASE"  # type: ignore[index]


def test_inside_multi_a_waiter_answers_wait():
    shard = Shard()
    shard.grant()
    replies = shard.engine.execute_transaction(
        [[b"LEASE.GET", b"k", b"500", b"BLOCK", b"0"]], shard.now, shard.rng
    )
    assert replies == [WAIT]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("LEASE.GET", "k", "x"), b"ERR value is not an integer or out of range"),
        (("LEASE.GET", "k", "0"), b"ERR invalid expire time in 'lease.get' command"),
        (("LEASE.GET", "k", "-5"), b"ERR invalid expire time in 'lease.get' command"),
        (("LEASE.GET", "k", "10", "NOPE"), b"ERR syntax error"),
        (("LEASE.GET", "k", "10", "BLOCK"), b"ERR syntax error"),
        (
            ("LEASE.GET", "k", "10", "BLOCK", "1.5"),
            b"ERR timeout is not an integer or out of range",
        ),
        (("LEASE.GET", "k", "10", "BLOCK", "-1"), b"ERR timeout is negative"),
        (("LEASE.GET", "k", "10", "RATE", "-1"), b"ERR value is out of range, must be positive"),
        (("LEASE.GET", "k"), b"ERR wrong number of arguments for 'lease.get' command"),
        (("LEASE.SET", "k", "1"), b"ERR wrong number of arguments for 'lease.set' command"),
        (("LEASE.SET", "k", "1", "v", "PX"), b"ERR syntax error"),
        (
            ("LEASE.SET", "k", "1", "v", "PX", "0"),
            b"ERR invalid expire time in 'lease.set' command",
        ),
        (("LEASE.SET", "k", "1", "v", "PX", "1", "PX", "2"), b"ERR syntax error"),
        (("LEASE.SET", "k", "1", "v", "EX", "1"), b"ERR syntax error"),
    ],
)
def test_errors(args, error):
    assert Shard()(*args) == resp.Error(error)


def test_a_lease_on_a_key_of_another_type_is_wrongtype():
    shard = Shard()
    shard("LPUSH", "k", "x")
    assert shard("LEASE.GET", "k", 100) == resp.Error(
        b"WRONGTYPE Operation against a key holding the wrong kind of value"
    )


def test_every_replica_draws_the_same_tokens():
    def run() -> list[object]:
        shard = Shard(seed=42)
        replies = []
        for index in range(20):
            shard.now += 37
            replies.append(shard("LEASE.GET", f"k{index % 5}", 100))
        return replies

    assert run() == run()


def test_snapshots_carry_the_table_and_read_those_without_one():
    shard = Shard()
    token = shard.grant("k", ttl=10_000)
    shard("LEASE.SET", "s", shard.grant("s"), "v", "STALE", 1000)
    shard("DEL", "s")
    restored = load(dump(shard.engine.db))
    assert restored.leases.records == shard.engine.db.leases.records
    assert restored.leases.next_token == shard.engine.db.leases.next_token
    other = Shard()
    other.engine.db = restored
    assert other("LEASE.SET", "k", token, "v") == resp.OK
    assert other("LEASE.GET", "s", 100, "STALE")[:2] == [b"LEASE", b"v"]  # type: ignore[index]
    # Without leases the snapshot is the layout of the builds before them.
    plain = Shard()
    plain("SET", "a", "1")
    blob = dump(plain.engine.db)
    assert load(blob).leases.records == {}
    assert LeaseTable().to_bytes() == b""
    # A damaged lease section is refused like any other damage.
    table = shard.engine.db.leases.to_bytes()
    with pytest.raises(ValueError):
        LeaseTable.from_bytes(table[:-3])
    with pytest.raises(SnapshotError):
        load(dump(plain.engine.db)[:-1])


def test_dead_records_are_swept_a_few_per_command():
    shard = Shard()
    for index in range(40):
        shard.grant(f"k{index}", ttl=10)
    shard.now += 10
    table = shard.engine.db.leases
    assert len(table.records) == 40
    for _ in range(10):
        shard("LEASE.GET", "hit", 10)
    assert len(table.records) <= 2  # "hit" holds a lease; each command swept four


def test_refresh_grants_one_lease_on_a_value_still_there():
    shard = Shard()
    shard("LEASE.SET", "k", shard.grant(), "v1", "PX", 10_000)
    assert shard("LEASE.GET", "k", 500) == [b"HIT", b"v1", None]
    refresh = shard("LEASE.GET", "k", 500, "REFRESH")
    assert refresh[:2] == [b"LEASE", b"v1"]  # type: ignore[index]
    # Only one refresher; the others keep reading the value.
    assert shard("LEASE.GET", "k", 500, "REFRESH") == [b"HIT", b"v1", None]
    assert shard("LEASE.SET", "k", refresh[2], "v2") == resp.OK  # type: ignore[index]
    assert shard("GET", "k") == b"v2"
    # A write during the refresh voids it: the refreshed value is older than that write.
    token = shard("LEASE.GET", "k", 500, "REFRESH")[2]  # type: ignore[index]
    shard("SET", "k", "v3")
    assert shard("LEASE.SET", "k", token, "v2") == resp.Error(LEASE_NOT_VALID)
    assert shard("GET", "k") == b"v3"


def test_the_router_retries_a_blocked_lease_get_with_what_is_left_in_milliseconds():
    from router.retry import _blocking_timeout, _set_blocking_timeout

    args = [b"LEASE.GET", b"k", b"500", b"BLOCK", b"1500", b"STALE"]
    assert _blocking_timeout(args) == pytest.approx(1.5)
    _set_blocking_timeout(args, 0.25)
    assert args == [b"LEASE.GET", b"k", b"500", b"BLOCK", b"250", b"STALE"]
    assert _blocking_timeout([b"LEASE.GET", b"k", b"500"]) is None  # never blocks
    assert _blocking_timeout([b"LEASE.GET", b"k", b"500", b"BLOCK", b"0"]) is None
    # The seconds of the list pops are left as they were.
    pop = [b"BLPOP", b"q", b"2"]
    _set_blocking_timeout(pop, 0.5)
    assert pop == [b"BLPOP", b"q", b"0.500"]


def test_parked_waiters_are_answered_by_the_fill_or_one_takes_over_a_voided_lease():
    import asyncio

    from slotraft.local_backend import LocalBackend

    async def call(backend: LocalBackend, *args: bytes) -> bytes:
        (reply,) = await backend.execute(0, [list(args)], False)
        return reply

    async def scenario() -> None:
        backend = LocalBackend(1)
        granted = await call(backend, b"LEASE.GET", b"k", b"60000")
        token = granted.split(b"\r\n")[-2]
        waiters = [
            asyncio.create_task(call(backend, b"LEASE.GET", b"k", b"60000", b"BLOCK", b"0"))
            for _ in range(3)
        ]
        await asyncio.sleep(0.01)
        assert not any(waiter.done() for waiter in waiters)
        # The holder's write of the key was an invalidation: its lease is void, and the
        # first waiter in line takes a new one; the others wait on.
        await call(backend, b"DEL", b"k")
        await asyncio.sleep(0.01)
        assert [waiter.done() for waiter in waiters] == [True, False, False]
        taken = waiters[0].result()
        assert taken.startswith(b"*3\r\n$5\r\nLEASE\r\n")
        assert await call(backend, b"LEASE.SET", b"k", token, b"old") == (
            b"-" + LEASE_NOT_VALID + b"\r\n"
        )
        new_token = taken.split(b"\r\n")[-2]
        assert await call(backend, b"LEASE.SET", b"k", new_token, b"new") == b"+OK\r\n"
        hit = b"*3\r\n$3\r\nHIT\r\n$3\r\nnew\r\n$-1\r\n"
        assert await asyncio.gather(*waiters[1:]) == [hit, hit]
        # A waiter whose BLOCK passes gets WAIT.
        await call(backend, b"LEASE.GET", b"other", b"60000")
        late = await call(backend, b"LEASE.GET", b"other", b"60000", b"BLOCK", b"20")
        assert late == b"*3\r\n$4\r\nWAIT\r\n$-1\r\n$-1\r\n"

    asyncio.run(scenario())


def test_replicas_and_a_replica_restored_from_a_snapshot_agree():
    """Through the shard's apply loop: same entries, same leases, same digest; a replica
    restored from a snapshot taken mid-way goes on identically (the lease table and its
    token counter travel in the snapshot)."""
    from node import entry_codec
    from node.entry_codec import Request, ShardEntry
    from node.shard_state import ShardState

    def entry(time_ms: int, sequence: int, *commands: list[bytes]) -> bytes:
        request = Request(7, sequence, sequence, entry_codec.COMMANDS, False, list(commands), [])
        return entry_codec.encode(ShardEntry(time_ms, 1000 + sequence, [request], [], []))

    first = [
        entry(1_000, 1, [b"LEASE.GET", b"a", b"5000"], [b"LEASE.GET", b"b", b"5000"]),
        entry(1_100, 2, [b"LEASE.GET", b"a", b"5000"], [b"SET", b"c", b"1"]),
    ]
    later = [
        entry(1_200, 3, [b"LEASE.GET", b"c", b"5000"], [b"LEASE.GET", b"d", b"5000"]),
        entry(1_300, 4, [b"DEL", b"b"], [b"LEASE.GET", b"b", b"5000"]),
    ]
    one, two = ShardState(), ShardState()
    replies_one = [one.apply(data).results[0].replies for data in first]
    replies_two = [two.apply(data).results[0].replies for data in first]
    assert replies_one == replies_two
    restored = ShardState()
    restored.restore(one.snapshot())
    assert restored.digest() == one.digest()
    for data in later:
        expected = one.apply(data).results[0].replies
        assert restored.apply(data).results[0].replies == expected
        assert two.apply(data).results[0].replies == expected
    assert one.digest() == two.digest() == restored.digest()
    # Replicas that disagree on the lease table alone are told apart.
    restored.engine.db.leases.records[b"a"].until += 1
    assert restored.digest() != one.digest()


def test_a_stale_value_kept_for_the_longest_time_still_snapshots():
    """LEASE.SET ... STALE 2^63-1 then a DEL: the stale value's end would overflow the
    snapshot's 64-bit field; it is kept until the end of time instead."""
    engine = Engine()
    rng = random.Random(0)
    now = 1_700_000_000_000
    grant = engine.execute([b"LEASE.GET", b"k", b"1000"], now, rng)
    assert isinstance(grant, list)
    token = grant[2]
    stored = [b"LEASE.SET", b"k", token, b"v", b"STALE", b"9223372036854775807"]
    assert engine.execute(stored, now, rng) == resp.OK
    assert engine.execute([b"DEL", b"k"], now + 1, rng) == 1
    restored = Engine()
    load_into(restored.db, dump(engine.db))
    assert restored.execute([b"LEASE.GET", b"k", b"1000", b"STALE"], now + 2, rng)[:2] == [
        b"LEASE",
        b"v",
    ]  # the first caller after the DEL gets the lease, with the stale value

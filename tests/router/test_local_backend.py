"""LocalBackend: engines per shard, parked blocking commands, transactions with WATCH
digests, INFO numbers."""

from __future__ import annotations

import argparse
import asyncio

import pytest

from router.backend import BackendError, Watch
from slotraft.local_backend import LocalBackend


def run(coroutine):
    return asyncio.run(coroutine)


async def call(backend: LocalBackend, *args: bytes, resp3: bool = False) -> bytes:
    (reply,) = await backend.execute(0, [list(args)], resp3)
    return reply


def test_execute_in_order_with_encoding():
    async def scenario():
        backend = LocalBackend(1)
        replies = await backend.execute(
            0, [[b"SET", b"a", b"1"], [b"INCR", b"a"], [b"GET", b"b"]], resp3=False
        )
        assert replies == [b"+OK\r\n", b":2\r\n", b"$-1\r\n"]
        assert await call(backend, b"GET", b"b", resp3=True) == b"_\r\n"

    run(scenario())


def test_slots_split_evenly():
    backend = LocalBackend(4)
    assert backend.shard_for_slot(0) == 0
    assert backend.shard_for_slot(16383) == 3
    assert sorted({backend.shard_for_slot(s) for s in range(16384)}) == [0, 1, 2, 3]


def test_blocked_clients_are_served_in_arrival_order():
    async def scenario():
        backend = LocalBackend(1)
        first = asyncio.create_task(call(backend, b"BLPOP", b"q", b"0"))
        await asyncio.sleep(0)
        second = asyncio.create_task(call(backend, b"BLPOP", b"q", b"other", b"0"))
        await asyncio.sleep(0)
        assert not first.done() and not second.done()
        assert await call(backend, b"RPUSH", b"q", b"a") == b":1\r\n"
        assert await first == b"*2\r\n$1\r\nq\r\n$1\r\na\r\n"
        assert not second.done()
        assert await call(backend, b"RPUSH", b"other", b"b") == b":1\r\n"
        assert await second == b"*2\r\n$5\r\nother\r\n$1\r\nb\r\n"
        assert (await backend.info(0))["blocked"] == 0

    run(scenario())


def test_one_push_of_two_elements_serves_two_waiters():
    async def scenario():
        backend = LocalBackend(1)
        waiters = [asyncio.create_task(call(backend, b"BRPOP", b"q", b"0")) for _ in range(3)]
        await asyncio.sleep(0)
        await call(backend, b"RPUSH", b"q", b"a", b"b")
        done, pending = await asyncio.wait(waiters, timeout=1)
        assert sorted(task.result() for task in done) == [
            b"*2\r\n$1\r\nq\r\n$1\r\na\r\n",
            b"*2\r\n$1\r\nq\r\n$1\r\nb\r\n",
        ]
        assert len(pending) == 1
        pending.pop().cancel()

    run(scenario())


def test_blmove_chain_wakes_the_next_waiter():
    async def scenario():
        backend = LocalBackend(1)
        mover = asyncio.create_task(call(backend, b"BLMOVE", b"a", b"b", b"LEFT", b"RIGHT", b"0"))
        popper = asyncio.create_task(call(backend, b"BLPOP", b"b", b"0"))
        await asyncio.sleep(0)
        await call(backend, b"LPUSH", b"a", b"x")
        assert await mover == b"$1\r\nx\r\n"
        assert await popper == b"*2\r\n$1\r\nb\r\n$1\r\nx\r\n"

    run(scenario())


def test_timeout_replies_null_and_forgets_the_waiter():
    """Redis 7.0 answers every blocking command that timed out with a null array (a null
    bulk string only for BLMOVE and BRPOPLPUSH inside MULTI, where they do not block)."""

    async def scenario():
        backend = LocalBackend(1)
        assert await call(backend, b"BLPOP", b"q", b"0.05") == b"*-1\r\n"
        assert await call(backend, b"BLMOVE", b"q", b"d", b"LEFT", b"LEFT", b"0.05") == b"*-1\r\n"
        assert await call(backend, b"BRPOPLPUSH", b"q", b"d", b"0.05") == b"*-1\r\n"
        in_multi = await backend.transaction(0, [[b"BRPOPLPUSH", b"q", b"d", b"0"]], False, [])
        assert in_multi == b"*1\r\n$-1\r\n"
        assert await call(backend, b"BLPOP", b"q", b"0.05", resp3=True) == b"_\r\n"
        await call(backend, b"RPUSH", b"q", b"kept")
        assert await call(backend, b"LLEN", b"q") == b":1\r\n"

    run(scenario())


def test_cancelled_waiter_does_not_take_data():
    async def scenario():
        backend = LocalBackend(1)
        waiter = asyncio.create_task(call(backend, b"BLPOP", b"q", b"0"))
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await call(backend, b"RPUSH", b"q", b"x")
        assert await call(backend, b"LLEN", b"q") == b":1\r\n"

    run(scenario())


def test_errors_come_back_at_once():
    async def scenario():
        backend = LocalBackend(1)
        reply = await call(backend, b"BLPOP", b"q", b"-1")
        assert reply == b"-ERR timeout is negative\r\n"

    run(scenario())


def test_transaction_with_watches_and_wakeups():
    async def scenario():
        backend = LocalBackend(1)
        await call(backend, b"SET", b"w", b"1")
        (digest,) = await backend.digests(0, [b"w"])
        reply = await backend.transaction(0, [[b"INCR", b"w"]], False, [Watch(b"w", digest)])
        assert reply == b"*1\r\n:2\r\n"
        stale = await backend.transaction(0, [[b"INCR", b"w"]], False, [Watch(b"w", digest)])
        assert stale == b"*-1\r\n"
        assert await backend.transaction(0, [], True, [Watch(b"w", digest)]) == b"_\r\n"
        assert await call(backend, b"GET", b"w") == b"$1\r\n2\r\n"
        waiter = asyncio.create_task(call(backend, b"BLPOP", b"tq", b"0"))
        await asyncio.sleep(0)
        reply = await backend.transaction(0, [[b"RPUSH", b"tq", b"v"]], False, [])
        assert reply == b"*1\r\n:1\r\n"
        assert await waiter == b"*2\r\n$2\r\ntq\r\n$1\r\nv\r\n"
        # Inside a transaction a blocking pop never blocks.
        reply = await backend.transaction(0, [[b"BLPOP", b"none", b"0"]], False, [])
        assert reply == b"*1\r\n*-1\r\n"

    run(scenario())


def test_info_and_down_shards():
    async def scenario():
        backend = LocalBackend(2)
        await backend.execute(1, [[b"SET", b"k", b"v"]], False)
        info = await backend.info(1)
        assert info["keys"] == 1 and info["used_memory"] > 0
        backend.down.add(1)
        with pytest.raises(BackendError, match="CLUSTERDOWN"):
            await backend.execute(1, [[b"GET", b"k"]], False)
        with pytest.raises(BackendError):
            await backend.info(1)

    run(scenario())


def test_active_expiry_removes_expired_keys():
    now = [1_000_000]
    backend = LocalBackend(1, clock_ms=lambda: now[0])

    async def scenario():
        await call(backend, b"SET", b"t", b"v", b"PX", b"100")
        now[0] += 200
        assert (await backend.info(0))["keys"] == 1
        assert backend.expire_once() == 1
        assert (await backend.info(0))["keys"] == 0

    run(scenario())


def test_slotraft_router_serves_from_local_shards_and_python_m_router_does_not():
    """--local-shards is `slotraft router`'s (the engines live outside router/); the bare
    router (`python -m router`) knows only the cluster's nodes."""
    from router import main as router_main
    from slotraft import cli, router_command

    args = cli.build_parser("router").parse_args(["router", "--local-shards", "2"])
    assert args.module is router_command

    async def scenario():
        backend, background = await router_command.backend_from(args)
        assert isinstance(backend, LocalBackend) and backend.shard_count == 2
        for work in background:
            work.close()

    run(scenario())
    parser = argparse.ArgumentParser()
    router_main.add_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--local-shards", "2"])


@pytest.mark.parametrize(
    ("pop", "push", "served"),
    [
        ([b"BLPOP", b"q", b"0"], [b"RPUSH", b"q", b"b"], b"*2\r\n$1\r\nq\r\n$1\r\nb\r\n"),
        (
            [b"BZPOPMIN", b"q", b"0"],
            [b"ZADD", b"q", b"1", b"b"],
            b"*3\r\n$1\r\nq\r\n$1\r\nb\r\n$1\r\n1\r\n",
        ),
    ],
)
def test_a_key_turned_into_another_type_leaves_a_blocked_pop_waiting(pop, push, served):
    """Redis 7.0 serves a blocked client only from a key of the type it pops: a push, DEL
    and SET in one transaction leave it blocked (not WRONGTYPE), the next push serves it."""

    async def scenario():
        backend = LocalBackend(1)
        waiter = asyncio.create_task(call(backend, *pop))
        await asyncio.sleep(0)
        await backend.transaction(0, [push, [b"DEL", b"q"], [b"SET", b"q", b"x"]], False, [])
        await asyncio.sleep(0)
        assert not waiter.done()
        await call(backend, b"DEL", b"q")
        await call(backend, *push)
        assert await asyncio.wait_for(waiter, 1) == served
        # Found at once, the other type is an error as before.
        await call(backend, b"SET", b"q", b"x")
        assert (await call(backend, *pop)).startswith(b"-WRONGTYPE")

    run(scenario())


def test_a_sub_millisecond_timeout_times_out():
    """0.001 (and 0.0001) is one millisecond in Redis 7.0, not forever."""

    async def scenario():
        backend = LocalBackend(1)
        for timeout in (b"0.001", b"0.0001"):
            reply = await asyncio.wait_for(call(backend, b"BLPOP", b"q", timeout), 10)
            assert reply == b"*-1\r\n"

    run(scenario())

"""Two routers in one process whose pub/sub reaches both (as the nodes' hubs do): the
router bus and what rides on it, CLIENT LIST / KILL / PAUSE / UNBLOCK, a router joining
a pause under way, MONITOR and tracking's REDIRECT across routers. The data of each router
stays in its own engines (these tests do not need it shared)."""

from __future__ import annotations

import asyncio

from router import client_ops
from router.config import RouterConfig
from router.context import CLIENT_ID_BITS, RouterContext
from slotraft.local_backend import LocalBackend
from tests.router.support import Client, parse_replies


def run(coroutine):
    return asyncio.run(coroutine)


def routers(count: int = 2) -> list[RouterContext]:
    """Routers with tags 1, 2, ...; a publication reaches every router's registry."""
    backends = [LocalBackend(3) for _ in range(count)]

    def publisher(backend: LocalBackend):
        async def publish(channel: bytes, message: bytes, sender: int) -> int:
            return sum(other.pubsub.deliver(channel, message) for other in backends)

        return publish

    contexts = []
    for tag, backend in enumerate(backends, start=1):
        backend.router_tag = tag
        backend.publish = publisher(backend)  # type: ignore[method-assign]
        contexts.append(RouterContext(RouterConfig(port=0), backend))
    for ctx in contexts:
        ctx.bus.start()
    return contexts


async def settle(turns: int = 50) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)


def sent(client: Client) -> bytes:
    out = bytes(client.transport.data[client._read :])
    client._read = len(client.transport.data)
    return out


def test_ids_list_and_kill_span_the_routers():
    async def scenario():
        first, second = routers()
        here, there = Client(first), Client(second)
        assert there.session.client.id == 2 << CLIENT_ID_BITS | 1
        await there.call(b"CLIENT", b"SETNAME", b"far")
        listing = (await here.call(b"CLIENT", b"LIST")).decode().splitlines()
        assert len(listing) == 2 and any("name=far" in line for line in listing)
        ids = [int(line.split()[0][3:]) for line in listing]
        assert ids == sorted(ids) == [here.session.client.id, there.session.client.id]
        only = await here.call(b"CLIENT", b"LIST", b"ID", there.session.client.id)
        assert only.count(b"\n") == 1 and b"name=far" in only
        assert await here.call(b"CLIENT", b"KILL", b"ID", there.session.client.id) == 1
        assert there.transport.closed
        there.close()
        assert await here.call(b"CLIENT", b"KILL", b"ID", there.session.client.id) == 0
        # The old form answers an error only when no router had the address.
        assert str(await here.call(b"CLIENT", b"KILL", b"9.9.9.9:1")) == "ERR No such client"

    run(scenario())


def test_pause_reaches_every_router_and_a_new_one_joins_it():
    async def scenario():
        first, second, third = routers(3)
        admin = Client(first)
        assert await admin.call(b"CLIENT", b"PAUSE", b"100000", b"WRITE") == b"OK"
        assert second.pause.active and second.pause.mode == 1
        third.pause.unpause()  # as a router started after the pause would be
        await client_ops.join_pause(third)
        assert third.pause.active and third.pause.remaining_ms() > 50_000
        writer = Client(third)
        writer.session.feed(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n")
        await settle()
        assert sent(writer) == b""
        assert await admin.call(b"CLIENT", b"UNPAUSE") == b"OK"
        async with asyncio.timeout(5):
            while writer.session.running:
                await asyncio.sleep(0)
        assert sent(writer) == b"+OK\r\n"
        assert not second.pause.active and not third.pause.active

    run(scenario())


def test_unblock_a_client_of_another_router():
    async def scenario():
        first, second = routers()
        admin, blocked = Client(first), Client(second)
        blocked.session.feed(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nl\r\n$1\r\n0\r\n")
        await settle()
        target = blocked.session.client.id
        assert await admin.call(b"CLIENT", b"UNBLOCK", target, b"ERROR") == 1
        async with asyncio.timeout(5):
            while blocked.session.running:
                await asyncio.sleep(0)
        assert sent(blocked) == b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
        assert await admin.call(b"CLIENT", b"UNBLOCK", target) == 0

    run(scenario())


def test_monitor_sees_the_other_routers_commands_only_while_it_exists():
    async def scenario():
        first, second = routers()
        watcher, worker = Client(first), Client(second)
        assert await watcher.call(b"MONITOR") == b"OK"
        assert second.monitor.active  # told by the first router
        await worker.call(b"SET", b"k", b"v")
        await settle()
        (line,) = parse_replies(sent(watcher))
        assert line.endswith(b'] "SET" "k" "v"')
        watcher.close()
        await worker.call(b"SET", b"k", b"w")  # published once more, to nobody
        await settle()
        assert not second.monitor.active  # so it stopped

    run(scenario())


def test_tracking_redirect_to_a_client_of_another_router():
    async def scenario():
        first, second = routers()
        tracker, receiver = Client(first), Client(second)
        await receiver.call(b"SUBSCRIBE", b"__redis__:invalidate")
        target = receiver.session.client.id
        assert await tracker.call(b"CLIENT", b"TRACKING", b"on", b"REDIRECT", target) == b"OK"
        bad = await tracker.call(b"CLIENT", b"TRACKING", b"on", b"REDIRECT", 12345)
        assert str(bad) == "ERR The client ID you want redirect to does not exist"
        await tracker.call(b"GET", b"k")
        first.tracking.invalidate([b"k"])  # as the shard's leader would say
        await settle()
        assert parse_replies(sent(receiver)) == [[b"message", b"__redis__:invalidate", [b"k"]]]

    run(scenario())

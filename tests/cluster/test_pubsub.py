"""Pub/sub across routers: the node's hub on its own, the router's node streams against
in-process gRPC servers (restarts included), and a real cluster of two routers with
redis-py clients (channels, patterns, counts, PUBSUB, a node killed and restarted)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace

import grpc
import pytest
import redis

from node.pubsub import PubSubHub
from node.services import KvService
from node.transport import SERVER_OPTIONS
from proto import slotraft_pb2 as pb
from proto import slotraft_pb2_grpc as pb_grpc
from router import pubsub_streams
from router.connection import ClientState
from router.node_link import GRPC_OPTIONS
from router.pubsub import Frame, PubSubRegistry
from router.pubsub_streams import NodeStreams, StreamState, _NodeStream
from slotraft.local_cluster import free_port
from tests.router.support import pack, parse_replies


def run(coroutine):
    return asyncio.run(coroutine)


async def eventually(check, timeout: float = 30.0, pause: float = 0.05):
    """Wait until check() is true (a bound against hangs, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(pause)


# ---------------------------------------------------------------------- the hub


def subscription(version: int, router: int = 7, channels=(), patterns=()) -> pb.Subscription:
    return pb.Subscription(
        router=router,
        version=version,
        channels=[name for name, _ in channels],
        channel_counts=[count for _, count in channels],
        patterns=[name for name, _ in patterns],
        pattern_counts=[count for _, count in patterns],
    )


class RouterEnd:
    """One router's stream to a hub, driven by hand."""

    def __init__(self, hub: PubSubHub) -> None:
        self.requests: asyncio.Queue[pb.Subscription | None] = asyncio.Queue()
        self.received: list[pb.Delivery] = []
        self.stream = hub.subscribe(self._requests())
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _requests(self) -> AsyncIterator[pb.Subscription]:
        while (request := await self.requests.get()) is not None:
            yield request

    async def _read(self) -> None:
        async for delivery in self.stream:
            self.received.append(delivery)

    async def send(self, request: pb.Subscription) -> pb.Delivery:
        """Send and wait for the node's answer (an acknowledgement or a query answer)."""
        seen = len(self.received)
        await self.requests.put(request)
        await eventually(
            lambda: any(d.acked or d.HasField("answer") for d in self.received[seen:]), 5
        )
        return next(d for d in self.received[seen:] if d.acked or d.HasField("answer"))

    def messages(self) -> list[tuple[bytes, bytes]]:
        return [
            (d.channel, d.message)
            for d in self.received
            if not d.acked and not d.HasField("answer")
        ]

    async def close(self) -> None:
        await self.requests.put(None)
        await asyncio.wait_for(self.task, 5)


def test_hub_counts_clients_and_sends_each_router_a_message_once():
    async def scenario():
        hub = PubSubHub()
        first, second, idle = RouterEnd(hub), RouterEnd(hub), RouterEnd(hub)
        ack = await first.send(subscription(3, 1, [(b"news", 2)], [(b"n*", 1), (b"*s", 4)]))
        assert ack.acked == 3
        await second.send(subscription(1, 2, [(b"news", 1), (b"others", 5)]))
        await idle.send(subscription(1, 3, [(b"unrelated", 1)]))
        assert hub.publish(b"news", b"hi") == 2 + 1 + 4 + 1
        assert hub.publish(b"others", b"o") == 4 + 5  # *s on the first router
        assert hub.publish(b"none", b"x") == 1  # n*
        assert hub.publish(b"zzz", b"x") == 0
        await eventually(lambda: len(first.messages()) == 3 and len(second.messages()) == 2)
        assert first.messages() == [(b"news", b"hi"), (b"others", b"o"), (b"none", b"x")]
        assert second.messages() == [(b"news", b"hi"), (b"others", b"o")]
        assert idle.messages() == []
        for end in (first, second, idle):
            await end.close()
        assert hub.streams == set()

    run(scenario())


def test_hub_answers_over_every_router():
    async def scenario():
        hub = PubSubHub()
        first, second = RouterEnd(hub), RouterEnd(hub)
        await first.send(subscription(1, 1, [(b"a", 2), (b"b", 1)], [(b"p*", 1)]))
        await second.send(subscription(1, 2, [(b"a", 1), (b"c", 3)], [(b"p*", 2), (b"q", 1)]))

        async def ask(**fields) -> pb.PubSubAnswer:
            return (await first.send(pb.Subscription(query=pb.PubSubQuery(id=9, **fields)))).answer

        numsub = await ask(kind=pb.PubSubQuery.NUMSUB, channels=[b"a", b"b", b"c", b"d"])
        assert (numsub.id, list(numsub.counts)) == (9, [3, 1, 3, 0])
        assert list((await ask(kind=pb.PubSubQuery.NUMPAT)).counts) == [2]
        assert list((await ask(kind=pb.PubSubQuery.CHANNELS)).channels) == [b"a", b"b", b"c"]
        some = await ask(kind=pb.PubSubQuery.CHANNELS, pattern=b"[bc]")
        assert list(some.channels) == [b"b", b"c"]
        none = await ask(kind=pb.PubSubQuery.CHANNELS, pattern=b"")
        assert list(none.channels) == []
        # A new set replaces the old one entirely.
        await second.send(subscription(2, 2, [(b"c", 1)]))
        numsub = await ask(kind=pb.PubSubQuery.NUMSUB, channels=[b"a", b"c"])
        assert list(numsub.counts) == [2, 1]
        assert list((await ask(kind=pb.PubSubQuery.NUMPAT)).counts) == [1]
        await first.close()
        await second.close()

    run(scenario())


def test_a_newer_stream_of_a_router_replaces_the_older():
    async def scenario():
        hub = PubSubHub()
        old, new = RouterEnd(hub), RouterEnd(hub)
        await old.send(subscription(1, 5, [(b"a", 1)]))
        await new.send(subscription(1, 5, [(b"a", 1)]))
        await asyncio.wait_for(old.task, 5)  # the hub ended the old stream
        assert hub.publish(b"a", b"once") == 1
        await eventually(lambda: new.messages() == [(b"a", b"once")])
        await new.close()

    run(scenario())


def test_a_router_that_falls_behind_loses_its_stream():
    async def scenario():
        hub = PubSubHub(max_queued_bytes=1000)
        requests: asyncio.Queue[pb.Subscription] = asyncio.Queue()

        async def feed() -> AsyncIterator[pb.Subscription]:
            while True:
                yield await requests.get()

        stream = hub.subscribe(feed())
        await requests.put(subscription(1, 1, [(b"c", 1)]))
        assert (await stream.__anext__()).acked == 1
        # The router reads nothing more: the deliveries pile up in the hub.
        receivers = [hub.publish(b"c", b"x" * 100) for _ in range(20)]
        assert receivers[0] == 1 and receivers[-1] == 0
        assert all(held.closed for held in hub.streams)
        await stream.aclose()
        assert hub.streams == set()

    run(scenario())


def test_a_routers_new_stream_hears_what_its_broken_one_may_have_missed():
    """Messages sent on a stream shortly before it ended (maybe still in the sockets'
    buffers) and those published while the router had no stream are reported in the
    acknowledgement of its next stream's first set; a message without an id (published
    on the node itself) only as a count."""

    async def scenario():
        hub = PubSubHub()
        end = RouterEnd(hub)
        await end.send(subscription(1, 9, [(b"ch", 1)]))
        assert hub.publish(b"ch", b"sent", origin=5, seq=1) == 1
        await eventually(lambda: len(end.messages()) == 1)
        await end.close()
        assert hub.publish(b"ch", b"while away", origin=5, seq=2) == 0
        assert hub.publish(b"ch", b"notification") == 0
        assert hub.publish(b"other", b"not theirs", origin=5, seq=3) == 0
        again = RouterEnd(hub)
        ack = await again.send(subscription(2, 9, [(b"ch", 1)]))
        assert list(zip(ack.gap.origins, ack.gap.seqs, strict=True)) == [(5, 1), (5, 2)]
        assert (ack.gap.unidentified, ack.gap.overflow) == (1, 0)
        assert not hub.absent
        # A router never seen before gets no gap.
        stranger = RouterEnd(hub)
        assert not (await stranger.send(subscription(1, 10, [(b"ch", 1)]))).HasField("gap")
        for router_end in (again, stranger):
            await router_end.close()

    run(scenario())


# ---------------------------------------------------------------------- node streams


class NodeServer:
    """The Kv service of a node with only its hub: enough for pub/sub."""

    def __init__(self) -> None:
        self.port = free_port()
        self.hub = PubSubHub()
        self.server: grpc.aio.Server | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.hub = PubSubHub()  # a restarted node remembers nothing
        self.server = grpc.aio.server(options=SERVER_OPTIONS)
        host = SimpleNamespace(pubsub=self.hub)
        pb_grpc.add_KvServicer_to_server(KvService(host), self.server)  # type: ignore[arg-type]
        self.server.add_insecure_port(self.address)
        await self.server.start()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(grace=None)
            self.server = None

    def router_counts(self) -> list[dict[bytes, int]]:
        return [dict(stream.set.channels) for stream in self.hub.streams if not stream.closed]


@contextlib.asynccontextmanager
async def node_servers(count: int) -> AsyncIterator[list[NodeServer]]:
    servers = [NodeServer() for _ in range(count)]
    try:
        for server in servers:
            await server.start()
        yield servers
    finally:
        for server in servers:
            await server.stop()


class Collector:
    def __init__(self, client_id: int) -> None:
        self.client = ClientState(
            id=client_id, addr="", laddr="", fd=-1, created=0.0, authenticated=True
        )
        self.received: list[list[bytes]] = []

    def deliver(self, frame: Frame) -> None:
        self.received.extend(parse_replies(frame.encoded(False)))


class Router:
    """A router's pub/sub parts over real gRPC channels to the servers (an address in
    `unreachable` stands for a server this router cannot reach)."""

    def __init__(
        self, servers: list[NodeServer], router_id: int, unreachable: tuple[int, ...] = ()
    ) -> None:
        self.channels = [
            grpc.aio.insecure_channel(
                f"127.0.0.1:{free_port()}" if index in unreachable else s.address,
                options=GRPC_OPTIONS,
            )
            for index, s in enumerate(servers)
        ]
        links = {
            index + 1: SimpleNamespace(kv=pb_grpc.KvStub(channel))
            for index, channel in enumerate(self.channels)
        }
        self.registry = PubSubRegistry()
        self.streams = NodeStreams(self.registry, links, router_id)

    async def __aenter__(self) -> Router:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.streams.close()
        for channel in self.channels:
            await channel.close()


def test_a_confirmed_subscription_is_held_by_every_node():
    async def scenario():
        async with node_servers(2) as servers, Router(servers, router_id=11) as router:
            subscriber = Collector(1)
            router.registry.subscribe(subscriber, [b"ch"])
            router.registry.psubscribe(subscriber, [b"c*"])
            await router.streams.sync()
            for server in servers:
                assert server.router_counts() == [{b"ch": 1}]
                assert server.hub.publish(b"ch", b"via %d" % server.port) == 2
            await eventually(lambda: len(subscriber.received) == 4)
            assert sorted(subscriber.received) == sorted(
                [
                    *[[b"message", b"ch", b"via %d" % s.port] for s in servers],
                    *[[b"pmessage", b"c*", b"ch", b"via %d" % s.port] for s in servers],
                ]
            )
            router.registry.unsubscribe(subscriber, [b"ch"])
            await router.streams.sync()
            assert all(server.router_counts() == [{}] for server in servers)

    run(scenario())


def test_queries_and_publishes_count_every_router():
    async def scenario():
        async with (
            node_servers(3) as servers,
            Router(servers, 21) as first,
            Router(servers, 22) as second,
        ):
            a, b, c = Collector(1), Collector(2), Collector(1)
            first.registry.subscribe(a, [b"x", b"y"])
            first.registry.subscribe(b, [b"x"])
            second.registry.subscribe(c, [b"x"])
            second.registry.psubscribe(c, [b"p*"])
            await first.streams.sync()
            await second.streams.sync()
            numsub = pb.PubSubQuery(kind=pb.PubSubQuery.NUMSUB, channels=[b"x", b"y", b"z"])
            assert list((await first.streams.query(numsub)).counts) == [3, 1, 0]
            numpat = pb.PubSubQuery(kind=pb.PubSubQuery.NUMPAT)
            assert list((await first.streams.query(numpat)).counts) == [1]
            channels = pb.PubSubQuery(kind=pb.PubSubQuery.CHANNELS)
            assert list((await second.streams.query(channels)).channels) == [b"x", b"y"]
            async with Router(servers, 23) as bystander:  # opens its streams to ask
                assert list((await bystander.streams.query(numsub)).counts) == [3, 1, 0]
            # The first messages go through every node (the publisher learns which
            # routers' sets each holds); each router keeps one copy of a message, and a
            # router's clients are counted once. Then a sender's messages go through its
            # node, which holds every router's set: in order, without copies.
            for sender in range(3):
                for n in range(20):
                    message = b"%d:%d" % (sender, n)
                    assert await second.streams.publish(b"x", message, sender) == 3
            await eventually(lambda: len(c.received) == 60 and len(a.received) == 60)
            copies = second.streams.counters.duplicates
            assert copies > 0
            for n in range(20, 25):
                assert await second.streams.publish(b"x", b"0:%d" % n, 0) == 3
            await eventually(lambda: len(c.received) == 65)
            assert second.streams.counters.duplicates == copies
            late = {b"0:%d" % n for n in range(20, 25)}
            await eventually(lambda: len(a.received) == 65 and len(b.received) == 65)
            for collector in (a, b, c):
                collector.received = [m for m in collector.received if m[2] not in late]
            for collector in (a, b, c):
                for sender in range(3):
                    prefix = b"%d:" % sender
                    mine = [m[2] for m in collector.received if m[2].startswith(prefix)]
                    assert mine == [b"%d:%d" % (sender, n) for n in range(20)]

    run(scenario())


def test_streams_come_back_after_a_node_restart_and_publish_avoids_a_dead_node():
    async def scenario():
        async with node_servers(2) as servers, Router(servers, 31) as router:
            subscriber = Collector(1)
            router.registry.subscribe(subscriber, [b"ch"])
            await router.streams.sync()
            await servers[0].stop()
            await eventually(lambda: router.streams.streams[1].state is StreamState.DOWN)
            # Node 2 takes it (node 1 is tried, and skipped a while after).
            assert await router.streams.publish(b"ch", b"while down") == 1
            router.registry.subscribe(subscriber, [b"more"])
            await router.streams.sync()  # does not wait for the dead node
            await servers[0].start()
            # The reopened stream sends the whole set again.
            await eventually(lambda: servers[0].router_counts() == [{b"ch": 1, b"more": 1}])
            assert servers[0].hub.publish(b"more", b"after restart") == 1
            await eventually(lambda: len(subscriber.received) == 2)
            assert [m[2] for m in subscriber.received] == [b"while down", b"after restart"]
            query = pb.PubSubQuery(kind=pb.PubSubQuery.NUMSUB, channels=[b"ch"])
            assert list((await router.streams.query(query)).counts) == [1]

    run(scenario())


def test_a_message_reaches_a_router_that_cannot_reach_the_node_a_publisher_would_use():
    """The bug of issue 20: a PUBLISH went through one node, and a node that did not hold
    the subscriber's set (here: its router cannot reach it) answered 0. Every PUBLISH now
    goes through every node; one that holds the set is enough."""

    async def scenario():
        async with (
            node_servers(3) as servers,
            Router(servers, 51, unreachable=(2,)) as subscriber_side,
            Router(servers, 52) as publisher_side,
        ):
            subscriber = Collector(1)
            subscriber_side.registry.subscribe(subscriber, [b"ch"])
            subscriber_side.registry.ssubscribe(subscriber, [b"sh"])
            await subscriber_side.streams.sync()
            assert servers[2].router_counts() == []
            for n in range(30):
                assert await publisher_side.streams.publish(b"ch", b"%d" % n) == 1
            # SPUBLISH through one node only (the shard's): the one the subscriber misses.
            streams = publisher_side.streams
            assert await streams.publish(b"sh", b"x", nodes=[3], sharded=True) == 0
            assert await streams.publish(b"sh", b"y", nodes=[2, 3], sharded=True) == 1
            await eventually(lambda: len(subscriber.received) == 31)
            assert subscriber.received == [
                *[[b"message", b"ch", b"%d" % n] for n in range(30)],
                [b"smessage", b"sh", b"y"],
            ]

    run(scenario())


def test_a_lingering_request_generator_of_an_ended_call_does_not_take_the_new_set():
    """A stream's old call may leave its request generator behind; woken by a change it
    marked the new set as sent (into the dead call), so the new call never sent it and
    the node never acknowledged it: every node "slow to take subscriptions"."""

    async def scenario():
        registry = PubSubRegistry()
        streams = NodeStreams(registry, {}, 81)
        stream = streams.streams[1] = _NodeStream(1, lambda: None)
        stream.generation = 1
        old = streams._requests(stream, 1)
        assert (await anext(old)).version == registry.version
        stream.generation, stream.sent = 2, 0  # the call ended; _run opens another
        new = streams._requests(stream, 2)
        assert (await anext(new)).version == registry.version  # the set, sent again
        woken_old = asyncio.ensure_future(anext(old))  # waiting first, woken first
        woken_new = asyncio.ensure_future(anext(new))
        await asyncio.sleep(0)
        registry.subscribe(Collector(1), [b"ch"])  # wakes both
        sent = await asyncio.wait_for(woken_new, 5)
        assert list(sent.channels) == [b"ch"] and sent.version == registry.version
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(woken_old, 5)

    run(scenario())


def test_a_publish_through_a_node_that_just_restarted_waits_for_the_sets(monkeypatch):
    """After a node restarts, the routers' sets reach it within a second or so; a PUBLISH
    that only that node took meanwhile reached no one (issue 20, after kill-all). The
    publisher sees that the node lacks a live router's set and sends the message again
    (same id) until it holds it."""
    monkeypatch.setattr(pubsub_streams, "PUBLISH_RESEND_S", 60.0)  # not a timing test

    async def scenario():
        async with (
            node_servers(2) as servers,
            Router(servers, 91) as subscriber_side,
            Router(servers, 92, unreachable=(1,)) as publisher_side,
        ):
            subscriber = Collector(1)
            subscriber_side.registry.subscribe(subscriber, [b"ch"])
            await subscriber_side.streams.sync()
            assert await publisher_side.streams.publish(b"ch", b"before") == 1
            await servers[0].stop()
            await servers[0].start()  # a fresh hub: no router's set
            assert await publisher_side.streams.publish(b"ch", b"after") == 1
            await eventually(lambda: len(subscriber.received) == 2)
            assert [m[2] for m in subscriber.received] == [b"before", b"after"]
            assert publisher_side.streams.counters.unconfirmed == 0

    run(scenario())


def test_a_sync_waits_for_at_least_one_node_to_hold_the_set():
    async def scenario():
        async with node_servers(2) as servers:
            await servers[0].stop()
            await servers[1].stop()
            async with Router(servers, 61) as router:
                subscriber = Collector(1)
                router.registry.subscribe(subscriber, [b"ch"])
                sync = asyncio.ensure_future(router.streams.sync())
                await asyncio.sleep(0.5)  # both streams down: not confirmed
                assert not sync.done()
                await servers[1].start()
                await asyncio.wait_for(sync, 20)
                assert servers[1].router_counts() == [{b"ch": 1}]

    run(scenario())


def test_messages_a_broken_stream_missed_are_counted_unless_another_node_brought_them():
    async def scenario():
        async with node_servers(2) as servers:
            # Node 1 closes a router's stream past 1 kB queued (Redis's output buffer
            # limit, small): a big message breaks it.
            servers[0].hub.max_queued_bytes = 1024
            async with Router(servers, 71) as router, Router(servers, 72) as publisher:
                subscriber = Collector(1)
                router.registry.subscribe(subscriber, [b"ch"])
                await router.streams.sync()
                assert await publisher.streams.publish(b"ch", b"x" * 2000) == 1
                await eventually(lambda: router.streams.counters.gaps == 1)
                counters = router.streams.counters
                assert counters.stream_breaks == 1 and counters.possibly_lost == 0
                assert subscriber.received == [[b"message", b"ch", b"x" * 2000]]
            async with Router(servers[:1], 73) as router, Router(servers, 74) as publisher:
                subscriber = Collector(1)
                router.registry.subscribe(subscriber, [b"ch"])
                await router.streams.sync()
                assert await publisher.streams.publish(b"ch", b"y" * 2000) == 0
                # Published on the node itself (a keyspace notification): no id.
                assert servers[0].hub.publish(b"ch", b"z" * 2000) == 0
                await eventually(lambda: router.streams.counters.gaps == 1)
                assert router.streams.counters.possibly_lost == 2
                assert subscriber.received == []
                assert "pubsub_possibly_lost_messages:2" in router.streams.counters.info_lines()

    run(scenario())


def test_every_reachable_node_restarting_is_an_outage_counted_not_silent():
    """Every node a router reaches dies with messages maybe in flight, and comes back with
    a fresh hub that cannot report them: the outage is counted (INFO), once. A node that
    stays up through another's restart, or one that kept its hub, reports what it had."""

    async def scenario():
        async with (
            node_servers(2) as servers,
            Router(servers, 81) as router,
            Router(servers, 82) as publisher,
        ):
            subscriber = Collector(1)
            router.registry.subscribe(subscriber, [b"ch"])
            await router.streams.sync()
            counters = router.streams.counters
            streams = router.streams.streams

            def all_up() -> bool:
                up = [s.state is pubsub_streams.StreamState.UP for s in streams.values()]
                return len(up) == 2 and all(up)

            await eventually(all_up)
            await servers[0].stop()  # the other node stays up: nothing in doubt
            await servers[0].start()
            await eventually(lambda: counters.stream_breaks == 1)
            await eventually(all_up)
            assert counters.unaccounted_outages == 0
            assert await publisher.streams.publish(b"ch", b"in flight?") == 1
            for server in servers:
                await server.stop()
            for server in servers:
                await server.start()
            await eventually(lambda: counters.stream_breaks == 3)
            await eventually(all_up)
            assert counters.unaccounted_outages == 1
            assert "pubsub_unaccounted_outages:1" in counters.info_lines()
            assert await publisher.streams.publish(b"ch", b"after") == 1
            await eventually(
                lambda: [m[2] for m in subscriber.received] == [b"in flight?", b"after"]
            )
            assert counters.unaccounted_outages == 1

    run(scenario())


# ---------------------------------------------------------------------- a real cluster


def client(cluster, index: int) -> redis.Redis:
    return redis.Redis(port=cluster.router_ports[index], socket_timeout=20)


def next_message(pubsub: redis.client.PubSub, timeout: float = 20.0) -> dict:
    message = pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
    assert message is not None, "no message arrived"
    return message


@pytest.mark.slow  # a real cluster of processes
def test_subscriber_on_one_router_receives_from_the_other(cluster):
    publisher = client(cluster, 1)
    listener = client(cluster, 0).pubsub()
    listener.subscribe("orders")
    listener.psubscribe("order*")
    assert listener.get_message(timeout=10)["type"] == "subscribe"
    assert listener.get_message(timeout=10)["type"] == "psubscribe"
    assert publisher.publish("orders", "o-1") == 2  # the channel, and the pattern
    assert publisher.publish("order-history", "h-1") == 1
    assert publisher.publish("unrelated", "x") == 0
    received = [next_message(listener) for _ in range(3)]
    assert [(m["type"], m["pattern"], m["channel"], m["data"]) for m in received] == [
        ("message", None, b"orders", b"o-1"),
        ("pmessage", b"order*", b"orders", b"o-1"),
        ("pmessage", b"order*", b"order-history", b"h-1"),
    ]
    listener.close()


def confirmations(pubsub: redis.client.PubSub, count: int) -> list[str]:
    return [pubsub.get_message(timeout=10)["type"] for _ in range(count)]


@pytest.mark.slow  # a real cluster of processes
def test_pubsub_counts_subscribers_on_both_routers(cluster):
    first, second = client(cluster, 0).pubsub(), client(cluster, 1).pubsub()
    first.subscribe("room:1", "room:2")
    second.subscribe("room:1")
    second.psubscribe("room:*")
    assert confirmations(first, 2) == ["subscribe", "subscribe"]
    assert confirmations(second, 2) == ["subscribe", "psubscribe"]
    for index in (0, 1):
        asker = client(cluster, index)
        assert asker.pubsub_numsub("room:1", "room:2", "room:3") == [
            (b"room:1", 2),
            (b"room:2", 1),
            (b"room:3", 0),
        ]
        assert asker.pubsub_numpat() == 1
        assert sorted(asker.pubsub_channels("room:*")) == [b"room:1", b"room:2"]
    # Each subscriber on each router: room:1 on both, the pattern on the second.
    assert client(cluster, 0).publish("room:1", "hello") == 3
    first.close()
    second.close()


@pytest.mark.slow  # a real cluster of processes
def test_unsubscribe_stops_delivery(cluster):
    publisher = client(cluster, 0)
    listener = client(cluster, 1).pubsub()
    listener.subscribe("ticker")
    assert listener.get_message(timeout=10)["type"] == "subscribe"
    assert publisher.publish("ticker", "1") == 1
    assert next_message(listener)["data"] == b"1"
    listener.unsubscribe("ticker")
    assert listener.get_message(timeout=10)["type"] == "unsubscribe"
    assert publisher.publish("ticker", "2") == 0
    assert publisher.pubsub_numsub("ticker") == [(b"ticker", 0)]
    assert listener.get_message(timeout=1) is None
    listener.close()


@pytest.mark.slow  # a real cluster of processes
def test_one_publishers_messages_arrive_in_order_on_every_router(cluster):
    listeners = [client(cluster, index).pubsub() for index in (0, 1)]
    for listener in listeners:
        listener.subscribe("sequence")
        assert listener.get_message(timeout=10)["type"] == "subscribe"
    publisher = client(cluster, 0)
    pipe = publisher.pipeline(transaction=False)
    for n in range(300):
        pipe.publish("sequence", n)
    assert pipe.execute() == [2] * 300
    for listener in listeners:
        assert [int(next_message(listener)["data"]) for _ in range(300)] == list(range(300))
        listener.close()


@pytest.mark.slow  # a real cluster of processes
def test_resp3_subscriber_gets_pushes_across_routers(cluster):
    with socket.create_connection(("127.0.0.1", cluster.router_ports[0]), timeout=20) as sock:
        sock.sendall(pack(b"HELLO", b"3") + pack(b"SUBSCRIBE", b"pushes") + pack(b"PING"))
        data = b""
        while not data.endswith(b"+PONG\r\n"):
            data += sock.recv(65536)
        assert b">3\r\n$9\r\nsubscribe\r\n$6\r\npushes\r\n:1\r\n+PONG\r\n" in data
        assert client(cluster, 1).publish("pushes", "p") == 1
        expected = b">3\r\n$7\r\nmessage\r\n$6\r\npushes\r\n$1\r\np\r\n"
        data = b""
        while len(data) < len(expected):
            data += sock.recv(65536)
        assert data == expected


@pytest.mark.slow
def test_pubsub_survives_a_node_restart(cluster):
    listener = client(cluster, 0).pubsub()
    listener.subscribe("alerts")
    assert listener.get_message(timeout=10)["type"] == "subscribe"
    publisher = client(cluster, 1)
    node = cluster.node(1)
    cluster.kill(node)
    try:
        # Whichever node the publisher used, another takes its messages.
        for n in range(5):
            assert publisher.publish("alerts", f"down-{n}") == 1
        assert [next_message(listener)["data"] for _ in range(5)] == [
            b"down-%d" % n for n in range(5)
        ]
    finally:
        cluster.start_process(node)
    # Router 1 reopens its stream to the restarted node and sends its set again: a message
    # published through that very node then reaches the subscriber. Probes published before
    # the node has the set reach no one (at most once).
    probe = 0
    deadline = time.monotonic() + 60
    stub = pb_grpc.KvStub(cluster.admin().channel(f"127.0.0.1:{node.port}"))
    while True:
        probe += 1
        request = pb.PublishRequest(channel=b"alerts", message=b"probe-%d" % probe)
        try:
            if stub.Publish(request, timeout=2).receivers == 1:
                break
        except grpc.RpcError:
            pass
        assert time.monotonic() < deadline, "the restarted node never got the set"
        time.sleep(0.2)
    assert next_message(listener)["data"] == b"probe-%d" % probe
    cluster.wait_until_serving(90)
    assert publisher.publish("alerts", "after") == 1
    assert next_message(listener)["data"] == b"after"
    listener.close()


@pytest.mark.slow  # a real cluster of processes
def test_many_subscribers_and_publishers_at_once(cluster):
    """Subscriptions changing on both routers while messages flow: every subscriber gets
    every message published after its confirmation, exactly once."""
    count = 8
    listeners = []
    for index in range(count):
        listener = client(cluster, index % 2).pubsub()
        listener.subscribe("crowd")
        assert listener.get_message(timeout=10)["type"] == "subscribe"
        listeners.append(listener)
    errors: list[str] = []

    def publish(router: int) -> None:
        try:
            publisher = client(cluster, router)
            for n in range(50):
                if publisher.publish("crowd", f"{router}:{n}") != count:
                    errors.append(f"router {router} message {n}: wrong receiver count")
        except redis.RedisError as error:
            errors.append(repr(error))

    threads = [threading.Thread(target=publish, args=(router,)) for router in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    for listener in listeners:
        got = [next_message(listener)["data"] for _ in range(100)]
        for router in (0, 1):
            mine = [m for m in got if m.startswith(b"%d:" % router)]
            assert mine == [b"%d:%d" % (router, n) for n in range(50)]
        assert listener.get_message(timeout=0.5) is None
        listener.close()


@pytest.mark.slow  # a real cluster of processes, a node killed twice
def test_no_silent_loss_after_a_node_was_killed_twice(cluster):
    """Issue 20: node 3 SIGKILLed twice and restarted; a subscriber on router A then got
    nothing of what was published through router B, and PUBLISH answered 0. Every message
    published after the confirmation must arrive, and PUBLISH count the subscriber."""
    node = cluster.node(3)
    for _ in range(2):
        cluster.kill(node)
        time.sleep(0.5)
        cluster.start_process(node)
        time.sleep(1.0)
    listener = client(cluster, 0).pubsub()
    listener.subscribe("after-kills")
    assert listener.get_message(timeout=10)["type"] == "subscribe"
    listener.psubscribe("after-*")
    assert listener.get_message(timeout=10)["type"] == "psubscribe"
    publisher = client(cluster, 1)
    counts = [publisher.publish("after-kills", f"m{n}") for n in range(300)]
    assert min(counts) >= 1, f"PUBLISH answered {counts.count(0)} times 0"
    assert set(counts) == {2}  # the channel and the pattern
    got = [next_message(listener) for _ in range(600)]
    for kind in ("message", "pmessage"):
        assert [m["data"] for m in got if m["type"] == kind] == [b"m%d" % n for n in range(300)]
    assert listener.get_message(timeout=0.5) is None  # no copies
    listener.close()
    cluster.wait_until_serving(90)


@pytest.mark.slow  # a real cluster of processes
def test_sharded_pubsub_across_routers_and_a_node_restart(cluster):
    listener = client(cluster, 0).pubsub()
    listener.ssubscribe("{orders}new", "{orders}old")
    assert [listener.get_message(timeout=10)["type"] for _ in range(2)] == ["ssubscribe"] * 2
    publisher = client(cluster, 1)
    with pytest.raises(redis.ResponseError, match="hash to the same slot"):
        publisher.execute_command("SSUBSCRIBE", "a", "b")
    assert publisher.execute_command("PUBSUB", "SHARDNUMSUB", "{orders}new") == [
        b"{orders}new",
        1,
    ]
    assert sorted(publisher.execute_command("PUBSUB", "SHARDCHANNELS")) == [
        b"{orders}new",
        b"{orders}old",
    ]
    assert publisher.publish("{orders}new", "plain") == 0  # a shard channel only
    node = cluster.node(2)
    cluster.kill(node)
    try:
        for n in range(5):
            assert publisher.execute_command("SPUBLISH", "{orders}new", f"s{n}") == 1
    finally:
        cluster.start_process(node)
    got = [next_message(listener) for _ in range(5)]
    assert [(m["type"], m["data"]) for m in got] == [("smessage", b"s%d" % n) for n in range(5)]
    listener.close()
    cluster.wait_until_serving(90)

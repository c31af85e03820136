"""CLUSTER, ASKING, WAIT/WAITAOF, ROLE and the persistence commands in process: the shapes
of the replies, the split of the slots over the routers, the argument errors, WAIT and the
saves inside MULTI, the background save's states, and redis-py's RedisCluster against a
router."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
import redis
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException

from proto.slots import SLOT_COUNT, key_slot
from router import replication_commands
from router.backend import BackendError, ReplicaOffset, Replication, WriteMarks
from tests.router.support import Client, RouterThread, context, pack, parse_replies


def run(coroutine):
    return asyncio.run(coroutine)


def with_routers(addresses: list[str], me: str):
    """A context whose backend knows these routers, this one announced at `me`."""
    ctx, backend = context()
    ctx.announce = me
    backend.routers = lambda: list(addresses)  # type: ignore[method-assign]
    return ctx, backend


def node_id(address: str) -> bytes:
    return hashlib.sha1(address.encode()).hexdigest().encode()


THREE = ["127.0.0.1:7002", "127.0.0.1:7000", "10.0.0.9:7001"]


def test_cluster_slots_splits_the_slots_over_the_routers_in_address_order():
    async def scenario():
        ctx, _ = with_routers(THREE, "127.0.0.1:7000")
        client = Client(ctx)
        slots = await client.call(b"CLUSTER", b"SLOTS")
        assert slots == [
            [0, 5460, [b"10.0.0.9", 7001, node_id("10.0.0.9:7001"), []]],
            [5461, 10921, [b"127.0.0.1", 7000, node_id("127.0.0.1:7000"), []]],
            [10922, 16383, [b"127.0.0.1", 7002, node_id("127.0.0.1:7002"), []]],
        ]
        assert await client.call(b"CLUSTER", b"MYID") == node_id("127.0.0.1:7000")
        nodes = (await client.call(b"CLUSTER", b"NODES")).decode().splitlines()
        assert nodes == [
            f"{node_id('10.0.0.9:7001').decode()} 10.0.0.9:7001@0 master - 0 0 0 connected 0-5460",
            f"{node_id('127.0.0.1:7000').decode()} 127.0.0.1:7000@0 myself,master - 0 0 1 "
            "connected 5461-10921",
            f"{node_id('127.0.0.1:7002').decode()} 127.0.0.1:7002@0 master - 0 0 2 connected "
            "10922-16383",
        ]
        info = (await client.call(b"CLUSTER", b"INFO")).decode()
        assert info.endswith("\r\n")
        fields = dict(line.split(":") for line in info.split("\r\n") if line)
        assert fields["cluster_state"] == "ok"
        assert fields["cluster_slots_assigned"] == fields["cluster_slots_ok"] == "16384"
        assert fields["cluster_known_nodes"] == fields["cluster_size"] == "3"
        assert fields["cluster_my_epoch"] == "1" and fields["cluster_current_epoch"] == "2"

    run(scenario())


def test_cluster_shards_in_resp2_and_resp3():
    async def scenario():
        ctx, _ = with_routers(["127.0.0.1:7000", "router-b:7001"], "127.0.0.1:7000")
        client = Client(ctx)
        flat = await client.call(b"CLUSTER", b"SHARDS")
        assert flat[0] == [
            b"slots",
            [0, 8191],
            b"nodes",
            [
                [
                    *(b"id", node_id("127.0.0.1:7000"), b"port", 7000),
                    *(b"ip", b"127.0.0.1", b"endpoint", b"127.0.0.1"),
                    *(b"role", b"master", b"replication-offset", 0, b"health", b"online"),
                ]
            ],
        ]
        # A router announced by name has a hostname too.
        assert b"hostname" in flat[1][3][0] and flat[1][1] == [8192, 16383]
        await client.call(b"HELLO", b"3")
        raw = await client.raw(pack(b"CLUSTER", b"SHARDS"))
        assert raw.startswith(b"*2\r\n%2\r\n$5\r\nslots\r\n*2\r\n:0\r\n:8191\r\n")
        assert b"%7\r\n$2\r\nid\r\n" in raw and b"%8\r\n$2\r\nid\r\n" in raw
        slots = await client.raw(pack(b"CLUSTER", b"SLOTS"))
        assert slots.count(b"%0\r\n") == 2  # each node's (empty) networking metadata

    run(scenario())


def test_an_unannounced_router_lists_itself_at_the_address_its_client_reached():
    async def scenario():
        ctx, backend = context()
        assert ctx.announce is None and backend.routers() == []
        client = Client(ctx)  # laddr 127.0.0.1:6379
        assert await client.call(b"CLUSTER", b"SLOTS") == [
            [0, SLOT_COUNT - 1, [b"127.0.0.1", 6379, node_id("127.0.0.1:6379"), []]]
        ]

    run(scenario())


def test_cluster_keyslot_replicas_help_and_asking():
    async def scenario():
        ctx, _ = with_routers(THREE, "127.0.0.1:7000")
        client = Client(ctx)
        for key in (b"a", b"{user}:1", b"", b"\xff"):
            assert await client.call(b"CLUSTER", b"KEYSLOT", key) == key_slot(key)
        assert await client.call(b"CLUSTER", b"REPLICAS", node_id("10.0.0.9:7001")) == []
        assert await client.call(b"CLUSTER", b"SLAVES", node_id("127.0.0.1:7000")) == []
        unknown = await client.call(b"CLUSTER", b"REPLICAS", b"abc")
        assert str(unknown) == "ERR Unknown node abc"
        lines = await client.call(b"CLUSTER", b"HELP")
        assert lines[0].startswith(b"CLUSTER <subcommand>") and b"SLOTS" in lines
        assert await client.call(b"ASKING") == b"OK"
        assert str(await client.call(b"CLUSTER", b"MEET", b"h", b"1")).startswith(
            "ERR unknown subcommand 'MEET'. Try CLUSTER HELP."
        )

    run(scenario())


def test_keys_in_a_slot_counted_and_listed_and_the_argument_errors():
    async def scenario():
        ctx, _ = context()
        client = Client(ctx)
        keys = [b"{k}%d" % n for n in range(7)]
        slot = key_slot(keys[0])
        await client.call(b"MSET", *[part for key in keys for part in (key, b"v")])
        await client.call(b"SET", b"other", b"v")
        assert await client.call(b"CLUSTER", b"COUNTKEYSINSLOT", slot) == 7
        assert sorted(await client.call(b"CLUSTER", b"GETKEYSINSLOT", slot, 100)) == keys
        assert len(await client.call(b"CLUSTER", b"GETKEYSINSLOT", slot, 3)) == 3
        assert await client.call(b"CLUSTER", b"GETKEYSINSLOT", slot, 0) == []
        errors = {
            (b"COUNTKEYSINSLOT", b"16384"): "ERR Invalid slot",
            (b"COUNTKEYSINSLOT", b"-1"): "ERR Invalid slot",
            (b"COUNTKEYSINSLOT", b"x"): "ERR value is not an integer or out of range",
            (b"GETKEYSINSLOT", b"1", b"-1"): "ERR Invalid slot or number of keys",
            (b"GETKEYSINSLOT", b"16384", b"1"): "ERR Invalid slot or number of keys",
            (b"GETKEYSINSLOT", b"x", b"1"): "ERR value is not an integer or out of range",
            (b"GETKEYSINSLOT", b"1", b"x"): "ERR value is not an integer or out of range",
        }
        for args, text in errors.items():
            assert str(await client.call(b"CLUSTER", *args)) == text, args

    run(scenario())


class ReplicatedBackend:
    """What WAIT, ROLE and the saves ask of a backend, recorded."""

    def __init__(self) -> None:
        self.waits: list[tuple[WriteMarks, int, float | None]] = []
        self.saved = asyncio.Event()
        self.save_gate: asyncio.Event | None = None
        self.saves = 0

    async def wait_replicated(self, marks: WriteMarks, replicas: int, timeout: float | None):
        self.waits.append((marks, replicas, timeout))
        return 2

    async def replication(self) -> Replication:
        return Replication(30, [ReplicaOffset("10.0.0.1", 7000, 30), ReplicaOffset("h", 1, 9)])

    async def save(self) -> float:
        if self.save_gate is not None:
            await self.save_gate.wait()
        self.saves += 1
        self.saved.set()
        return 1234.5

    async def last_save(self) -> float:
        return 1234.5


def replicated_context():
    ctx, backend = context()
    fake = ReplicatedBackend()
    for name in ("wait_replicated", "replication", "save", "last_save"):
        setattr(backend, name, getattr(fake, name))
    return ctx, fake


def test_wait_and_waitaof_ask_for_the_connections_marks_and_answer_at_once_in_exec():
    async def scenario():
        ctx, fake = replicated_context()
        client = Client(ctx)
        client.session.client.write_marks.update({0: 17, 2: 5})
        assert await client.call(b"WAIT", b"2", b"1500") == 2
        assert await client.call(b"WAIT", b"1", b"0") == 2
        assert await client.call(b"WAITAOF", b"1", b"2", b"100") == [1, 2]
        assert fake.waits == [
            ({0: 17, 2: 5}, 2, 1.5),
            ({0: 17, 2: 5}, 1, None),
            ({0: 17, 2: 5}, 2, 0.1),
        ]
        replies = await client.pipeline(
            (b"MULTI",), (b"WAIT", b"5", b"0"), (b"WAITAOF", b"0", b"1", b"0"), (b"EXEC",)
        )
        assert replies == [b"OK", b"QUEUED", b"QUEUED", [2, [1, 2]]]
        assert [timeout for _, _, timeout in fake.waits[3:]] == [0.0, 0.0]
        assert not client.session.client.in_exec

    run(scenario())


def test_wait_and_waitaof_argument_errors():
    async def scenario():
        ctx, fake = replicated_context()
        client = Client(ctx)
        cases = {
            (b"WAIT", b"x", b"0"): "ERR value is not an integer or out of range",
            (b"WAIT", b"1", b"x"): "ERR timeout is not an integer or out of range",
            (b"WAIT", b"1", b"1.5"): "ERR timeout is not an integer or out of range",
            (b"WAIT", b"1", b"-1"): "ERR timeout is negative",
            (b"WAITAOF", b"x", b"0", b"0"): "ERR value is not an integer or out of range",
            (b"WAITAOF", b"2", b"0", b"0"): "ERR value is out of range, value must between 0 and 1",
            (
                b"WAITAOF",
                b"-1",
                b"0",
                b"0",
            ): "ERR value is out of range, value must between 0 and 1",
            (b"WAITAOF", b"0", b"-1", b"0"): "ERR value is out of range, must be positive",
            (b"WAITAOF", b"0", b"x", b"0"): "ERR value is out of range, must be positive",
            (b"WAITAOF", b"0", b"0", b"x"): "ERR timeout is not an integer or out of range",
            (b"WAITAOF", b"1", b"0", b"-5"): "ERR timeout is negative",
            (b"WAITAOF", b"0", b"0"): "ERR wrong number of arguments for 'waitaof' command",
        }
        for args, text in cases.items():
            assert str(await client.call(*args)) == text, args
        assert fake.waits == []

    run(scenario())


def test_role_shows_the_nodes_as_replicas_with_their_offsets():
    async def scenario():
        ctx, _ = replicated_context()
        client = Client(ctx)
        assert await client.call(b"ROLE") == [
            b"master",
            30,
            [[b"10.0.0.1", b"7000", b"30"], [b"h", b"1", b"9"]],
        ]

    run(scenario())


def test_save_bgsave_bgrewriteaof_lastsave_and_their_states():
    async def scenario():
        ctx, fake = replicated_context()
        client = Client(ctx)
        assert await client.call(b"SAVE") == b"OK"
        assert await client.call(b"LASTSAVE") == 1234
        fake.save_gate = asyncio.Event()
        assert await client.call(b"BGSAVE") == b"Background saving started"
        assert str(await client.call(b"BGSAVE")) == "ERR Background save already in progress"
        assert str(await client.call(b"SAVE")) == "ERR Background save already in progress"
        assert await client.call(b"BGREWRITEAOF") == (
            b"Background append only file rewriting scheduled"
        )
        fake.save_gate.set()
        for _ in range(100):
            if fake.saves == 3:
                break
            await asyncio.sleep(0.01)
        assert fake.saves == 3  # SAVE, BGSAVE, then the scheduled rewrite
        fake.save_gate = asyncio.Event()
        assert await client.call(b"BGREWRITEAOF") == (
            b"Background append only file rewriting started"
        )
        assert str(await client.call(b"BGREWRITEAOF")) == (
            "ERR Background append only file rewriting already in progress"
        )
        assert str(await client.call(b"BGSAVE")).startswith("ERR Another child process is active")
        assert await client.call(b"BGSAVE", b"SCHEDULE") == b"Background saving scheduled"
        assert str(await client.call(b"BGSAVE", b"NOW")) == "ERR syntax error"
        fake.save_gate.set()
        await replication_commands.stop_background_saves(ctx)

    run(scenario())


def test_save_is_refused_inside_multi_and_bgsave_there_is_scheduled():
    async def scenario():
        ctx, fake = replicated_context()
        client = Client(ctx)
        replies = await client.pipeline((b"MULTI",), (b"SAVE",), (b"EXEC",))
        assert replies[:1] == [b"OK"]
        assert str(replies[1]) == "ERR Command not allowed inside a transaction"
        assert str(replies[2]).startswith("EXECABORT Transaction discarded")
        replies = await client.pipeline((b"MULTI",), (b"BGSAVE",), (b"EXEC",))
        assert replies == [b"OK", b"QUEUED", [b"Background saving scheduled"]]
        await asyncio.wait_for(fake.saved.wait(), 5)

    run(scenario())


def test_a_save_that_fails_says_why():
    async def scenario():
        ctx, backend = context()
        client = Client(ctx)
        assert str(await client.call(b"SAVE")).startswith("ERR nothing to save")

        async def down() -> float:
            raise BackendError(b"ERR Save failed on node 2 (h:1): unavailable")

        backend.save = down  # type: ignore[method-assign]
        assert str(await client.call(b"SAVE")) == "ERR Save failed on node 2 (h:1): unavailable"

    run(scenario())


def test_redis_py_cluster_client_against_one_router():
    """RedisCluster's start-up (CLUSTER SLOTS, COMMAND) and routing against one router
    serving in-process engines."""
    with RouterThread(shards=3) as router:
        client = RedisCluster(host="127.0.0.1", port=router.port, socket_timeout=10)
        try:
            (node,) = client.get_nodes()
            assert node.port == router.port
            mapping = {f"k{index}": str(index) for index in range(50)}
            for key, value in mapping.items():
                client.set(key, value)
            assert client.mget_nonatomic(list(mapping)) == [v.encode() for v in mapping.values()]
            pipe = client.pipeline()
            pipe.incr("counter").incr("counter")
            assert pipe.execute() == [1, 2]
            with pytest.raises(RedisClusterException, match="same key slot"):
                client.mget("k1", "k2")  # the client refuses keys of several slots itself
        finally:
            client.close()


def test_cluster_replies_parse_as_redis_py_parses_them():
    with RouterThread(shards=1) as router:
        plain = redis.Redis(port=router.port)
        try:
            ((first, last, (host, port, _, _)),) = plain.cluster("SLOTS")
            assert (first, last, host, port) == (0, 16383, b"127.0.0.1", router.port)
            nodes = plain.cluster("NODES")
            assert list(nodes) == [f"127.0.0.1:{router.port}"]
            assert plain.cluster("INFO")["cluster_state"] == "ok"
            assert parse_replies(b":1\r\n") == [1]
        finally:
            plain.close()


def test_a_tls_client_is_given_the_announced_tls_ports_and_shards_list_both():
    async def scenario():
        ctx, backend = context(tls=(("tls-port", "6390"),), announce_tls_port=7390)
        ctx.announce = "127.0.0.1:7000"
        backend.routers = lambda: ["127.0.0.1:7000", "127.0.0.1:7001"]  # type: ignore[method-assign]
        backend.router_tls_ports = lambda: {"127.0.0.1:7001": 7391}  # type: ignore[method-assign]
        plain = Client(ctx)
        on_tls = Client(ctx)
        on_tls.session.client.laddr = "127.0.0.1:6390"
        ports = [entry[2][1] for entry in await on_tls.call(b"CLUSTER", b"SLOTS")]
        assert ports == [7390, 7391]
        assert [entry[2][1] for entry in await plain.call(b"CLUSTER", b"SLOTS")] == [7000, 7001]
        nodes = (await on_tls.call(b"CLUSTER", b"NODES")).decode().splitlines()
        assert [line.split()[1] for line in nodes] == ["127.0.0.1:7390@0", "127.0.0.1:7391@0"]
        shards = await plain.call(b"CLUSTER", b"SHARDS")
        fields = [dict(zip(s[3][0][::2], s[3][0][1::2], strict=True)) for s in shards]
        assert [(f[b"port"], f[b"tls-port"]) for f in fields] == [(7000, 7390), (7001, 7391)]

    run(scenario())

"""Router-local commands: CLIENT, COMMAND, CONFIG, INFO, TIME, WAIT, READONLY, and the
MULTI state machine on its own."""

from __future__ import annotations

import asyncio
import re
import time

from proto.commands import TABLE, Route, lookup
from router import session  # noqa: F401  (importing registers the router's commands)
from router.backend import Watch
from router.local_commands import LOCAL_COMMANDS
from router.transaction import CROSSSLOT_REPLY, QUEUED_REPLY, Transaction
from tests.router.support import Client, context


def run(coroutine):
    return asyncio.run(coroutine)


def test_every_router_command_has_a_handler():
    """One table of the router's own commands, and exactly those of Route.ROUTER."""
    handled = set(LOCAL_COMMANDS)
    for spec in TABLE.values():
        if spec.route is Route.ROUTER:
            names = [sub.name for sub in spec.subcommands.values()]
            if not spec.subcommands or spec.arity == -1:  # COMMAND alone is a command too
                names.append(spec.name)
            assert set(names) <= handled, spec.name
    assert handled <= {
        sub.name
        for spec in TABLE.values()
        for sub in (spec, *spec.subcommands.values())
        if sub.route is Route.ROUTER
    }
    for command in LOCAL_COMMANDS.values():
        assert (command.answer is None) != (command.answer_later is None)


def test_what_acts_in_multi_and_in_pub_sub_mode_is_as_in_redis():
    """processCommand's lists: not queued in MULTI, allowed to a RESP2 subscriber."""
    acting = {name for name, command in LOCAL_COMMANDS.items() if command.acts_in_multi}
    assert acting == {"exec", "discard", "multi", "watch", "quit", "reset"}
    allowed = {n for n, command in LOCAL_COMMANDS.items() if command.allowed_when_subscribed}
    assert allowed == {"ping", "subscribe", "unsubscribe", "psubscribe", "punsubscribe"} | {
        "ssubscribe",
        "sunsubscribe",
        "quit",
        "reset",
    }


def test_transaction_state_machine():
    transaction = Transaction()
    get = lookup(b"get")
    assert get is not None
    assert transaction.begin() is True
    assert transaction.begin() is False
    assert transaction.queue([b"GET", b"a"], get, None) == QUEUED_REPLY
    assert transaction.queue([b"GET", b"b"], get, 2) == QUEUED_REPLY
    assert transaction.queue([b"GET", b"c"], get, 1) == CROSSSLOT_REPLY
    assert transaction.dirty
    queued, shard, watches, dirty = transaction.take()
    assert [item.args for item in queued] == [[b"GET", b"a"], [b"GET", b"b"]]
    assert (shard, watches, dirty) == (2, [], True)
    assert not transaction.active and not transaction.queued
    # Watches bind the shard too, and leave with EXEC (take) or UNWATCH.
    assert transaction.watch(1, [Watch(b"k", b"d")]) is None
    assert transaction.watch(0, [Watch(b"j", b"d")]) == CROSSSLOT_REPLY
    transaction.begin()
    assert transaction.queue([b"GET", b"x"], get, 0) == CROSSSLOT_REPLY
    assert transaction.take()[1:] == (1, [Watch(b"k", b"d")], True)
    assert transaction.watches == [] and transaction.watch_shard is None
    transaction.flag_error()
    assert not transaction.dirty  # only inside MULTI


def test_client_commands():
    async def scenario():
        ctx, _ = context()
        first, second = Client(ctx), Client(ctx)
        assert await first.call(b"CLIENT", b"ID") == first.session.client.id
        assert await first.call(b"CLIENT", b"SETINFO", b"LIB-NAME", b"mylib") == b"OK"
        assert await first.call(b"CLIENT", b"SETINFO", b"lib-ver", b"1.2") == b"OK"
        bad = await first.call(b"CLIENT", b"SETINFO", b"lib-name", b"a b")
        assert str(bad) == "ERR lib-name cannot contain spaces, newlines or special characters."
        bad = await first.call(b"CLIENT", b"SETINFO", b"color", b"red")
        assert str(bad) == "ERR Unrecognized option 'color'"
        info = (await first.call(b"CLIENT", b"INFO")).decode()
        assert f"id={first.session.client.id} " in info
        assert "lib-name=mylib lib-ver=1.2" in info and "cmd=client|info" in info
        await second.call(b"CLIENT", b"SETNAME", b"other")
        listing = (await first.call(b"CLIENT", b"LIST")).decode().splitlines()
        assert len(listing) == 2 and any("name=other" in line for line in listing)
        only = await first.call(b"CLIENT", b"LIST", b"ID", str(second.session.client.id))
        assert b"name=other" in only and only.count(b"\n") == 1
        assert await first.call(b"CLIENT", b"LIST", b"TYPE", b"pubsub") == b""
        assert str(await first.call(b"CLIENT", b"LIST", b"TYPE", b"x")).startswith(
            "ERR Unknown client type"
        )
        assert str(await first.call(b"CLIENT", b"KILL", b"ID", b"x")) == (
            "ERR client-id should be greater than 0"
        )
        assert await first.call(b"CLIENT", b"KILL", b"ID", b"99999") == 0
        killed = await first.call(b"CLIENT", b"KILL", b"ID", str(second.session.client.id))
        assert killed == 1 and second.transport.closed
        address = first.session.client.addr.encode()
        assert str(await first.call(b"CLIENT", b"KILL", b"1.2.3.4:5")) == "ERR No such client"
        # SKIPME yes (the default) protects the caller; the old form may kill itself.
        assert await first.call(b"CLIENT", b"KILL", b"ADDR", address) == 0
        assert (
            await first.raw(
                b"*3\r\n$6\r\nCLIENT\r\n$4\r\nKILL\r\n$%d\r\n%s\r\n"
                % (
                    len(address),
                    address,
                )
            )
            == b"+OK\r\n"
        )
        assert first.transport.closed
        help_lines = await Client(ctx).call(b"CLIENT", b"HELP")
        assert help_lines[0].startswith(b"CLIENT <subcommand>")

    run(scenario())


def test_command_count_info_docs_list_getkeys():
    async def scenario():
        client = Client(context()[0])
        assert await client.call(b"COMMAND", b"COUNT") == len(TABLE)
        everything = await client.call(b"COMMAND")
        assert sorted(entry[0] for entry in everything) == sorted(n.encode() for n in TABLE)
        (get,) = await client.call(b"COMMAND", b"INFO", b"GET")
        assert get[:7] == [
            b"get",
            2,
            [b"readonly", b"fast"],
            1,
            1,
            1,
            [b"@read", b"@string", b"@fast"],
        ]
        (client_info,) = await client.call(b"COMMAND", b"INFO", b"client")
        assert b"client|setname" in [sub[0] for sub in client_info[9]]
        (blpop,) = await client.call(b"COMMAND", b"INFO", b"blpop")
        assert b"blocking" in blpop[2]
        docs = await client.call(b"COMMAND", b"DOCS", b"get", b"client")
        assert docs[0] == b"get"
        get_docs = dict(zip(docs[1][::2], docs[1][1::2]))
        assert get_docs[b"group"] == b"string" and get_docs[b"since"] == b"1.0.0"
        client_docs = dict(zip(docs[3][::2], docs[3][1::2]))
        assert b"client|setname" in client_docs[b"subcommands"]
        names = await client.call(b"COMMAND", b"LIST")
        assert len(names) == len(TABLE)
        pattern = await client.call(b"COMMAND", b"LIST", b"FILTERBY", b"PATTERN", b"client|*name")
        assert sorted(pattern) == [b"client|getname", b"client|setname"]
        transactions = await client.call(
            b"COMMAND", b"LIST", b"FILTERBY", b"ACLCAT", b"transaction"
        )
        assert sorted(transactions) == [b"discard", b"exec", b"multi", b"unwatch", b"watch"]
        assert await client.call(b"COMMAND", b"LIST", b"FILTERBY", b"MODULE", b"x") == []
        keys = await client.call(b"COMMAND", b"GETKEYS", b"ZUNIONSTORE", b"d", b"2", b"a", b"b")
        assert keys == [b"d", b"a", b"b"]
        assert await client.call(b"COMMAND", b"GETKEYS", b"OBJECT", b"ENCODING", b"k") == [b"k"]

    run(scenario())


def test_config():
    async def scenario():
        ctx, backend = context()
        client = Client(ctx)
        assert await client.call(b"CONFIG", b"SET", b"maxmemory", b"1kb") == b"OK"
        assert await client.call(b"CONFIG", b"SET", b"maxmemory-policy", b"allkeys-lru") == b"OK"
        got = await client.call(b"CONFIG", b"GET", b"maxmemory*", b"databases")
        assert dict(zip(got[::2], got[1::2])) == {
            b"maxmemory": b"1024",
            b"maxmemory-policy": b"allkeys-lru",
            b"maxmemory-samples": b"5",
            b"maxmemory-clients": b"0",
            b"maxmemory-eviction-tenacity": b"10",
            b"databases": b"1",
        }
        assert backend.engine(0).config.maxmemory == 1024  # every shard applies it
        assert await client.call(b"CONFIG", b"GET", b"PROTO-MAX-BULK-LEN") == [
            b"PROTO-MAX-BULK-LEN",  # as asked, as Redis answers an exact name
            b"536870912",
        ]
        assert await client.call(b"CONFIG", b"GET", b"cluster-enabled") == [
            b"cluster-enabled",
            b"no",
        ]
        refused = await client.call(b"CONFIG", b"SET", b"daemonize", b"yes")
        assert str(refused) == (
            "ERR CONFIG SET failed (possibly related to argument 'daemonize') - "
            "can't set immutable config"
        )
        await client.call(b"PING")
        assert await client.call(b"CONFIG", b"RESETSTAT") == b"OK"
        info = (await client.call(b"INFO", b"stats")).decode()
        assert "total_commands_processed:1\r\n" in info  # the INFO itself

    run(scenario())


def test_info_sections_add_up_the_shards():
    async def scenario():
        ctx, backend = context()
        client = Client(ctx)
        keys = [b"k%d" % i for i in range(30)]
        await client.call(b"MSET", *[part for key in keys for part in (key, b"v")])
        await client.call(b"EXPIRE", b"k1", b"100")
        await client.call(b"GET", b"k2")
        await client.call(b"GET", b"missing")
        text = (await client.call(b"INFO")).decode()
        sections = [line for line in text.split("\r\n") if line.startswith("# ")]
        assert sections == [
            "# Server",
            "# Clients",
            "# Memory",
            "# Persistence",
            "# Stats",
            "# Replication",
            "# CPU",
            "# Modules",
            "# Errorstats",
            "# Cluster",
            "# Keyspace",
        ]
        found = re.search(r"db0:keys=30,expires=1,avg_ttl=(\d+)\r\n", text)
        assert found is not None, text
        avg_ttl = int(found.group(1))
        assert 90_000 < avg_ttl <= 100_000  # the one key with a TTL: about 100 s left
        engines = [backend.engine(shard).stats() for shard in range(3)]
        for field in ("keyspace_hits", "keyspace_misses", "used_memory"):
            assert f"{field}:{sum(stats[field] for stats in engines)}\r\n" in text
        assert "connected_clients:1\r\n" in text and "redis_version:7.0.15\r\n" in text
        assert "shard0:slots=0-5461,status=ok" in text
        assert "shard2:slots=10923-16383,status=ok" in text
        only = (await client.call(b"INFO", b"keyspace", b"CLIENTS")).decode()
        assert only.startswith("# Clients\r\n") and "# Keyspace\r\n" in only
        assert await client.call(b"INFO", b"nosuchsection") == b""
        await client.call(b"PERSIST", b"k1")
        resp3 = await client.raw(b"HELLO 3\r\nINFO keyspace\r\n")
        body = b"# Keyspace\r\ndb0:keys=30,expires=0,avg_ttl=0\r\n"
        assert resp3.endswith(b"=%d\r\ntxt:%s\r\n" % (len(body) + 4, body))

    run(scenario())


def test_info_reports_a_failed_shard_and_keeps_answering():
    async def scenario():
        ctx, backend = context()
        client = Client(ctx)
        backend.down.add(2)
        text = (await client.call(b"INFO", b"cluster")).decode()
        assert "shard2:slots=10923-16383,status=error,error=CLUSTERDOWN" in text

    run(scenario())


def test_time_wait_readonly():
    async def scenario():
        client = Client(context()[0])
        seconds, micros = await client.call(b"TIME")
        assert abs(int(seconds) - time.time()) < 5 and 0 <= int(micros) < 1_000_000
        # In-process engines have no replicas: as a Redis master without any.
        assert await client.call(b"WAIT", b"0", b"0") == 0
        assert await client.call(b"WAIT", b"1", b"10") == 0
        assert await client.call(b"READONLY") == b"OK"
        assert client.session.client.readonly
        assert await client.call(b"GET", b"x") is None
        assert await client.call(b"READWRITE") == b"OK"
        assert not client.session.client.readonly

    run(scenario())

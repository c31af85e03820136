"""CONFIG on a router over in-process shards: what each kind of parameter changes (every
shard's engine, this router's connections), all or none, REWRITE and RESETSTAT."""

from __future__ import annotations

import asyncio
import socket
import time

import redis

from router import cron
from router.backend import BackendError
from tests.router.support import Client, RouterThread, context, pack


def run(coroutine):
    return asyncio.run(coroutine)


def test_cluster_wide_settings_reach_every_shard_and_show_in_info():
    async def scenario():
        ctx, backend = context()
        client = Client(ctx)
        reply = await client.call(
            b"CONFIG", b"SET", b"maxmemory", b"10mb", b"hash-max-ziplist-entries", b"2"
        )
        assert reply == b"OK"
        for shard in range(3):
            config = backend.engine(shard).config
            assert (config.maxmemory, config.hash_max_listpack_entries) == (10 << 20, 2)
        await client.call(b"HSET", b"h", b"a", b"1", b"b", b"2", b"c", b"3")
        assert await client.call(b"OBJECT", b"ENCODING", b"h") == b"hashtable"
        info = (await client.call(b"INFO", b"memory")).decode()
        assert "maxmemory:10485760\r\n" in info and "maxmemory_human:10.00M\r\n" in info

    run(scenario())


def test_a_failed_cluster_wide_change_leaves_the_router_s_own_settings_alone():
    async def scenario():
        ctx, backend = context()

        async def refused(settings: dict[str, str]) -> None:
            raise BackendError(b"CLUSTERDOWN CONFIG SET not applied: test")

        backend.set_cluster_settings = refused  # type: ignore[method-assign]
        client = Client(ctx)
        reply = await client.call(b"CONFIG", b"SET", b"timeout", b"5", b"maxmemory", b"1mb")
        assert str(reply) == "CLUSTERDOWN CONFIG SET not applied: test"
        assert ctx.config.idle_timeout == 0
        assert await client.call(b"CONFIG", b"GET", b"timeout") == [b"timeout", b"0"]

    run(scenario())


def test_proto_max_bulk_len_applies_to_open_connections():
    async def scenario():
        ctx, _ = context()
        client, other = Client(ctx), Client(ctx)
        assert await other.call(b"CONFIG", b"SET", b"proto-max-bulk-len", b"1mb") == b"OK"
        out = await client.raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n")
        assert out == b"-ERR Protocol error: invalid bulk length\r\n"
        assert client.transport.closed

    run(scenario())


def test_an_idle_client_is_disconnected_past_timeout_but_not_a_subscriber():
    async def scenario():
        ctx, _ = context()
        idle, subscriber, admin = Client(ctx), Client(ctx), Client(ctx)
        await subscriber.call(b"SUBSCRIBE", b"c")
        await idle.call(b"PING")
        assert await admin.call(b"CONFIG", b"SET", b"timeout", b"1") == b"OK"
        await admin.call(b"PING")
        now = time.monotonic()
        idle.session.client.last_interaction = subscriber.session.client.last_interaction = now - 5
        assert cron.close_idle_clients(ctx, now) == 1
        assert idle.transport.closed and not subscriber.transport.closed
        assert not admin.transport.closed

    run(scenario())


def test_maxclients_and_protected_mode_apply_to_the_next_connections():
    with RouterThread(shards=1) as router:
        client = redis.Redis(port=router.port)
        assert client.config_set("maxclients", "1")
        with socket.create_connection(("127.0.0.1", router.port), timeout=5) as second:
            second.sendall(pack(b"PING"))
            assert second.recv(100) == b"-ERR max number of clients reached\r\n"
        assert client.config_set("maxclients", "10000")
        assert client.config_set("protected-mode", "no")
        assert router.ctx.config.protected_mode is False
        client.close()


def test_rewrite_writes_the_router_s_file_and_without_one_answers_ok(tmp_path):
    async def scenario():
        path = tmp_path / "router.conf"
        path.write_text("# mine\ntimeout 10\nport 7000\n")
        ctx, _ = context(config_file=path)
        client = Client(ctx)
        reply = await client.call(b"CONFIG", b"SET", b"timeout", b"30", b"maxmemory", b"1mb")
        assert reply == b"OK"
        assert await client.call(b"CONFIG", b"REWRITE") == b"OK"
        text = path.read_text()
        assert text.startswith("# mine\ntimeout 30\nport 7000\n")
        assert "maxmemory 1mb\n" in text
        plain, _ = context()
        assert await Client(plain).call(b"CONFIG", b"REWRITE") == b"OK"

    run(scenario())


def test_config_set_inside_multi_runs_at_exec():
    async def scenario():
        ctx, backend = context()
        client = Client(ctx)
        replies = await client.pipeline(
            (b"MULTI",),
            (b"CONFIG", b"SET", b"maxmemory-samples", b"7"),
            (b"CONFIG", b"GET", b"maxmemory-samples"),
            (b"EXEC",),
        )
        assert replies[-1] == [b"OK", [b"maxmemory-samples", b"7"]]
        assert backend.engine(2).config.maxmemory_samples == 7

    run(scenario())


def test_resetstat_zeroes_what_info_shows_but_not_the_metrics():
    async def scenario():
        ctx, _ = context()
        client = Client(ctx)
        await client.call(b"GET", b"k")
        await client.call(b"INCR", b"k", b"extra")
        before = (await client.call(b"INFO", b"commandstats", b"errorstats")).decode()
        assert "cmdstat_get:calls=1," in before
        assert "errorstat_ERR:count=1" in before
        assert "rejected_calls=1,failed_calls=0" in before  # wrong number of arguments
        assert await client.call(b"CONFIG", b"RESETSTAT") == b"OK"
        after = (await client.call(b"INFO", b"commandstats", b"errorstats")).decode()
        assert "cmdstat_get" not in after and "errorstat_ERR" not in after
        assert ctx.commands.by_name["get"].count == 1  # the metrics endpoint's counter

    run(scenario())


def test_config_help():
    async def scenario():
        ctx, _ = context()
        lines = await Client(ctx).call(b"CONFIG", b"HELP")
        assert lines[0].startswith(b"CONFIG <subcommand>") and lines[-1] == b"    Prints this help."

    run(scenario())


def test_a_router_config_file_sets_its_settings_and_flags_override_it(tmp_path):
    import argparse

    from router.main import add_arguments, config_from

    path = tmp_path / "router.conf"
    path.write_text(
        "port 7001\nbind 127.0.0.2 ::1\ntimeout 30\nmaxclients 50\nprotected-mode no\n"
        "proto-max-bulk-len 2mb\nmaxmemory 1gb\n"  # maxmemory: the nodes'
    )
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    config = config_from(parser.parse_args(["--nodes", "x:1", "--config", str(path)]))
    assert (config.port, config.host, config.idle_timeout, config.max_clients) == (
        7001,
        "127.0.0.2",
        30,
        50,
    )
    assert config.protected_mode is False and config.limits.max_bulk_len == 2 << 20
    assert config.config_file == path.resolve()
    flags = ["--nodes", "x:1", "--config", str(path), "--port", "7002", "--max-clients", "9"]
    config = config_from(parser.parse_args(flags))
    assert (config.port, config.max_clients, config.idle_timeout) == (7002, 9, 30)
    plain = config_from(parser.parse_args(["--nodes", "x:1"]))
    assert (plain.port, plain.host, plain.max_clients, plain.protected_mode) == (
        6379,
        "127.0.0.1",
        10000,
        True,
    )

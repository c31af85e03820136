"""The router's metrics and its log of shard events (router/metrics.py).

Sessions count every command answered under its name (the subcommand's, `unknown` for an
unknown one, never the client's spelling), its error replies, and its end-to-end latency;
the collector exports them with the connected clients. The cluster backend logs leader
changes and retries at INFO, and a storm of retries adds one line per shard per interval,
not one per request. The router logs at INFO unless told otherwise."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
import time

import redis
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from proto import slotraft_pb2 as pb
from proto.metrics import process_registry
from router import main as router_main
from router.metrics import ShardEvents, command_name
from router.metrics_export import RouterCollector
from slotraft.local_cluster import free_port
from tests.router.support import Client, context, pack
from tests.router.test_node_link import AnsweringNode, backend_with, ok

EVENTS_LOGGER = "slotraft.router.events"


def scrape(ctx) -> dict[tuple[str, tuple], float]:
    registry = process_registry()
    registry.register(RouterCollector(ctx))
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_sessions_count_commands_errors_and_latency_per_command():
    async def scenario():
        ctx, _ = context()
        client = Client(ctx)
        other = Client(ctx)
        commands: list[tuple[bytes, ...]] = [(b"SET", b"k%d" % i, b"v") for i in range(20)]
        commands += [(b"get", b"k%d" % i) for i in range(20)]
        commands += [(b"LPUSH", b"k0", b"x")]  # WRONGTYPE
        commands += [(b"NOSUCHCOMMAND", b"a"), (b"AnOtHeR", b"b")]
        commands += [(b"CLIENT", b"ID"), (b"CLIENT", b"NOSUCH")]
        commands += [(b"GET",)]  # wrong arity: an error of get
        commands += [(b"INFO", b"server")]  # a barrier
        replies = await client.pipeline(*commands)
        assert len(replies) == len(commands)
        await other.call("PING")
        stats = ctx.commands.by_name
        assert stats["set"].count == 20 and stats["set"].errors == 0
        assert stats["get"].count == 21 and stats["get"].errors == 1
        assert stats["lpush"].count == 1 and stats["lpush"].errors == 1
        assert stats["unknown"].count == 2 and stats["unknown"].errors == 2
        assert stats["client|id"].count == 1 and stats["client|id"].errors == 0
        assert stats["client"].errors == 1  # an unknown subcommand counts under its command
        assert stats["info"].count == 1 and stats["ping"].count == 1
        assert all(s.total >= 0 for s in stats.values())

        samples = scrape(ctx)
        assert samples[("slotraft_router_commands_total", (("command", "set"),))] == 20
        assert samples[("slotraft_router_command_errors_total", (("command", "lpush"),))] == 1
        count = ("slotraft_router_command_duration_seconds_count", (("command", "get"),))
        assert samples[count] == 21
        inf = (("command", "get"), ("le", "+Inf"))
        assert samples[("slotraft_router_command_duration_seconds_bucket", inf)] == 21
        assert samples[("slotraft_router_connected_clients", ())] == 2
        assert not any("nosuchcommand" in str(key).lower() for key in samples)
        # In-process shards have no leaders or retries to show.
        assert not any(name.startswith("slotraft_router_retries") for name, _ in samples)
        client.close()
        assert scrape(ctx)[("slotraft_router_connected_clients", ())] == 1

    asyncio.run(scenario())


def test_a_pipeline_of_one_command_counts_each_request_and_each_error():
    async def scenario():
        ctx, _ = context()
        client = Client(ctx)
        await client.call("LPUSH", "list", "x")
        replies = await client.pipeline(*[("INCR", "n")] * 10, ("INCR", "list"), ("INCR", "n"))
        assert replies[-1] == 11
        assert ctx.commands.by_name["incr"].count == 12
        assert ctx.commands.by_name["incr"].errors == 1

    asyncio.run(scenario())


def test_latency_runs_from_the_request_coming_in_to_its_reply():
    async def scenario():
        ctx, _ = context()
        client = Client(ctx)
        client.session.feed(pack("SET", "k", "v")[:5])  # the rest comes later
        await asyncio.sleep(0.05)
        await client.raw(pack("SET", "k", "v")[5:])
        stats = ctx.commands.by_name["set"]
        assert stats.count == 1 and stats.total >= 0.05

    asyncio.run(scenario())


def test_command_names_are_bounded_by_the_command_table():
    assert command_name([b"GET", b"k"]) == "get"
    assert command_name([b"client", b"LIST"]) == "client|list"
    assert command_name([b"client", b"whatever"]) == "client"
    assert command_name([b"\xff\xfe", b"x"]) == "unknown"
    assert command_name([]) == "unknown"


class Timers:
    """Stands in for loop.call_later: callbacks run when the test says."""

    def __init__(self) -> None:
        self.due: list = []

    def __call__(self, delay, callback) -> None:
        self.due.append(callback)

    def fire(self) -> None:
        due, self.due = self.due, []
        for callback in due:
            callback()


def events_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == EVENTS_LOGGER]


def test_a_retry_storm_is_one_line_at_once_and_one_per_interval(caplog):
    caplog.set_level(logging.INFO, logger=EVENTS_LOGGER)
    timers = Timers()
    events = ShardEvents(interval=5.0, schedule=timers)
    for _ in range(10_000):
        events.retry(0, "node 1: NOT_LEADER", hint=2)
    events.retry(1, "node 3 unreachable")
    assert events.retries == {0: 10_000, 1: 1}
    assert events_lines(caplog) == [
        "shard 0: a request is retried after node 1: NOT_LEADER, which names node 2 the leader",
        "shard 1: a request is retried after node 3 unreachable",
    ]
    caplog.clear()
    timers.fire()  # the interval ends: shard 0's storm in one line, shard 1 was alone
    assert events_lines(caplog) == [
        "shard 0: 9999 more retries in the last 5 s; the last: a request is retried after "
        "node 1: NOT_LEADER, which names node 2 the leader"
    ]
    assert all(r.levelno == logging.INFO for r in caplog.records)
    caplog.clear()
    timers.fire()  # a quiet interval closes the window...
    assert events_lines(caplog) == []
    events.retry(0, "node 2 unreachable")  # ...so the next retry is logged at once
    assert events_lines(caplog) == ["shard 0: a request is retried after node 2 unreachable"]


def test_leader_changes_are_counted_and_logged_and_failures_warned(caplog):
    caplog.set_level(logging.INFO, logger=EVENTS_LOGGER)
    timers = Timers()
    events = ShardEvents(interval=5.0, schedule=timers)
    events.confirm_leader(0, 1)
    events.confirm_leader(0, 1)
    events.confirm_leader(0, 2)
    events.confirm_leader(0, 3)
    events.confirm_leader(0, 1)
    assert events.leaders == {0: 1} and events.leader_changes == {0: 3}
    events.gave_up(0, "no leader served it in time (node 3 unreachable)")
    timers.fire()
    assert events_lines(caplog) == [
        "shard 0: leader is node 1",
        "shard 0: leader is node 2 (was node 1)",  # the first leader opened no window
        "shard 0: no leader served it in time (node 3 unreachable)",
        "shard 0: 2 more leader changes in the last 5 s; the last: leader is node 1 (was node 3)",
    ]
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warned] == [
        "shard 0: no leader served it in time (node 3 unreachable)"
    ]


def not_leader(hint: int):
    def respond(request: pb.KvRequest) -> pb.KvReply:
        return pb.KvReply(id=request.id, status=pb.NOT_LEADER, leader_node=hint)

    return respond


def test_the_backend_logs_a_failover_once_for_many_requests(caplog):
    """An election settles: node 1 names node 2 the leader, and node 2 names node 1 until
    it has refused 300 requests. 200 requests, each sent in its own loop turn, bounce
    between them and are then served by node 2. The log says so in one line for the
    retries and one for the new leader; the metrics count every retry."""
    caplog.set_level(logging.INFO, logger=EVENTS_LOGGER)
    refused = [0]

    def elected_after_300(request: pb.KvRequest) -> pb.KvReply:
        if refused[0] < 300:
            refused[0] += 1
            return not_leader(1)(request)
        return ok(request)

    async def scenario() -> None:
        old, new = AnsweringNode(not_leader(2)), AnsweringNode(elected_after_300)
        backend = await backend_with({1: old, 2: new}, leader=1)
        calls = []
        for index in range(200):
            calls.append(backend.execute(0, [[b"SET", b"k%d" % index, b"v"]], False))
            await asyncio.sleep(0)  # not merged with the others
        results = await asyncio.wait_for(asyncio.gather(*calls), 10)
        assert results == [[b"+OK\r\n"]] * 200
        assert backend.events.leaders == {0: 2}
        assert backend.events.retries[0] >= 300
        await backend.close()
        for node in (old, new):
            await node.close()

    asyncio.run(scenario())
    assert events_lines(caplog) == [
        "shard 0: a request is retried after node 1: NOT_LEADER, which names node 2 the leader",
        "shard 0: leader is node 2",
    ]


def test_the_router_logs_at_info_by_default():
    parser = router_main.argparse.ArgumentParser()
    router_main.add_arguments(parser)
    assert parser.parse_args(["--nodes", "127.0.0.1:1"]).log_level == "INFO"


def test_a_router_whose_metrics_port_is_taken_says_so_and_serves_its_clients(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        metrics = f"127.0.0.1:{taken.getsockname()[1]}"
        port = free_port()
        log = tmp_path / "router.log"
        with log.open("wb") as output:
            command = [sys.executable, "-m", "slotraft.cli", "router", "--port", str(port)]
            command += ["--local-shards"]
            router = subprocess.Popen(
                [*command, "1", "--metrics", metrics],
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with redis.Redis(port=port, socket_timeout=5) as client:
                        assert client.ping()
                    break
                except redis.ConnectionError:
                    assert router.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(0.1)
            assert f"ERROR slotraft.router: cannot serve metrics on {metrics}" in log.read_text()
        finally:
            router.terminate()
            router.wait(10)

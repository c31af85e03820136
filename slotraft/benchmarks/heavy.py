"""Heavy commands against a local cluster: does any one of them starve Raft?

Starts a 3-node, 3-shard cluster, loads big collections onto one shard (a hash tag), then
runs each of the heaviest commands the limits allow (and a few they refuse, the security
review's finding among them) from several clients at once, while a probe client keeps
writing and reading a key on every shard. Prints per command the latency of its calls,
what they got, the slowest probe meanwhile, and whether any shard's leader or term
changed (an election: heartbeats came too late). Prints figures; asserts nothing."""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis

from node.engine.config import EngineConfig
from node.engine.work import BYTES_PER_ELEMENT, RANDOM_ZSET_DRAW
from slotraft.local_cluster import LocalCluster

TAG = b"{heavy}"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="slotraft bench heavy", description=__doc__)
    parser.add_argument(
        "--members", type=int, default=200_000, help="size of the big collections (200,000)"
    )
    parser.add_argument("--clients", type=int, default=4, help="clients per command (4)")
    parser.add_argument("--calls", type=int, default=3, help="calls per client and command (3)")
    parser.add_argument(
        "--max-command-work",
        type=int,
        default=EngineConfig().max_command_work,
        help="the nodes' limit, and what the commands are sized to reach",
    )
    parser.add_argument(
        "--only", default="", help="comma-separated substrings: run only matching commands"
    )
    return parser.parse_args(argv)


def key(name: str) -> bytes:
    return TAG + name.encode()


@dataclass
class Batch:
    """Several commands sent at once: a pipeline, or a MULTI/EXEC transaction."""

    commands: list[list[bytes]]
    transaction: bool


Command = Callable[[int], "list[bytes] | Batch"]  # what a client sends in its n-th call


def same(*args: bytes) -> Command:
    return lambda n: list(args)


def heavy_commands(work: int) -> list[tuple[str, Command]]:
    """(label, command) at or just under the work limit (arguments count too), and a few
    the limit refuses, the finding's among them."""
    z, s, h, lst = key("z"), key("s"), key("h"), key("l")
    draws = work // RANDOM_ZSET_DRAW - 4
    scored_draws = work // (RANDOM_ZSET_DRAW + 1) - 4
    half = work // 2 - 4
    string_bytes = (work - 8) * BYTES_PER_ELEMENT
    mget_keys = work - 2 - work // BYTES_PER_ELEMENT
    fresh_pairs = work // 2 - 2

    def zadd_fresh(n: int) -> list[bytes]:
        return [
            b"ZADD",
            key(f"fresh{n}"),
            *[x for i in range(fresh_pairs) for x in (b"1", b"m%d" % i)],
        ]

    return [
        ("finding: ZRANDMEMBER -1000000", same(b"ZRANDMEMBER", z, b"-1000000")),
        ("finding: ... WITHSCORES", same(b"ZRANDMEMBER", z, b"-1000000", b"WITHSCORES")),
        ("ZRANDMEMBER -draws", same(b"ZRANDMEMBER", z, b"-%d" % draws)),
        (
            "ZRANDMEMBER -draws WITHSCORES",
            same(b"ZRANDMEMBER", z, b"-%d" % scored_draws, b"WITHSCORES"),
        ),
        (
            "ZRANDMEMBER +draws WITHSCORES",
            same(b"ZRANDMEMBER", z, b"%d" % scored_draws, b"WITHSCORES"),
        ),
        ("ZRANGE limit", same(b"ZRANGE", z, b"0", b"%d" % (work - 5))),
        ("ZRANGE limit/2 WITHSCORES", same(b"ZRANGE", z, b"0", b"%d" % half, b"WITHSCORES")),
        (
            "ZREVRANGEBYSCORE LIMIT WITHSCORES",
            same(
                b"ZREVRANGEBYSCORE",
                z,
                b"+inf",
                b"-inf",
                b"WITHSCORES",
                b"LIMIT",
                b"0",
                b"%d" % half,
            ),
        ),
        ("ZRANGE whole set (refused)", same(b"ZRANGE", z, b"0", b"-1")),
        ("ZSCAN COUNT huge", same(b"ZSCAN", z, b"0", b"COUNT", b"10000000")),
        ("SRANDMEMBER -limit", same(b"SRANDMEMBER", s, b"-%d" % (work - 3))),
        ("SRANDMEMBER +limit", same(b"SRANDMEMBER", s, b"%d" % (work - 3))),
        ("SMEMBERS (refused)", same(b"SMEMBERS", s)),
        ("SSCAN COUNT huge", same(b"SSCAN", s, b"0", b"COUNT", b"10000000")),
        ("HRANDFIELD -limit/2 WITHVALUES", same(b"HRANDFIELD", h, b"-%d" % half, b"WITHVALUES")),
        ("HGETALL (refused)", same(b"HGETALL", h)),
        ("HSCAN COUNT huge", same(b"HSCAN", h, b"0", b"COUNT", b"10000000")),
        ("LRANGE limit", same(b"LRANGE", lst, b"0", b"%d" % (work - 4))),
        ("LPOS walk", same(b"LPOS", lst, b"absent")),
        ("KEYS (refused)", same(b"KEYS", TAG + b"*")),
        ("SCAN COUNT huge", same(b"SCAN", b"0", b"COUNT", b"10000000")),
        ("GETRANGE limit bytes", same(b"GETRANGE", key("str"), b"0", b"%d" % (string_bytes - 1))),
        ("GET whole string (refused)", same(b"GET", key("str"))),
        ("MGET limit keys", same(b"MGET", *[key(f"k{n}") for n in range(mget_keys)])),
        ("SUNION one set", same(b"SUNION", key("ss"))),
        ("SINTER limit", same(b"SINTER", key("ss"), s)),
        ("ZUNIONSTORE", same(b"ZUNIONSTORE", key("dest"), b"1", key("zs"))),
        (
            "pipeline of 8 x ZRANGE limit/2 WS",
            lambda n: Batch([[b"ZRANGE", z, b"0", b"%d" % half, b"WITHSCORES"]] * 8, False),
        ),
        (
            "MULTI of 3 x ZRANGE limit/2 WS",
            lambda n: Batch([[b"ZRANGE", z, b"0", b"%d" % half, b"WITHSCORES"]] * 3, True),
        ),
        ("ZADD limit/2 pairs, new keys", zadd_fresh),
        ("DEL those keys", lambda n: [b"DEL", key(f"fresh{n}")]),
    ]


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    replies: dict[str, int] = field(default_factory=dict)


def describe(reply: object) -> str:
    if isinstance(reply, str):
        return reply
    if isinstance(reply, Exception):
        return f"error: {str(reply)[:70]}"
    if isinstance(reply, list):
        return f"{len(reply)} elements"
    if isinstance(reply, bytes):
        return f"{len(reply):,} bytes"
    return f"{reply!r}"[:40]


def send(connection: redis.Redis, sent: list[bytes] | Batch) -> object:
    if not isinstance(sent, Batch):
        return connection.execute_command(*sent)
    pipe = connection.pipeline(transaction=sent.transaction)
    for args in sent.commands:
        pipe.execute_command(*args)
    replies = pipe.execute(raise_on_error=False)
    return "batch: " + ", ".join(describe(reply) for reply in replies)


def run_clients(port: int, command: Command, clients: int, calls: int) -> Outcome:
    outcome = Outcome()
    lock = threading.Lock()

    def client(first: int) -> None:
        connection = redis.Redis(port=port, socket_timeout=120)
        for call in range(first, first + calls):
            sent = command(call)
            started = time.monotonic()
            try:
                reply: object = send(connection, sent)
            except redis.RedisError as error:
                reply = error
            elapsed = time.monotonic() - started
            with lock:
                outcome.latencies.append(elapsed)
                text = describe(reply)
                outcome.replies[text] = outcome.replies.get(text, 0) + 1
        connection.close()

    threads = [threading.Thread(target=client, args=(n * calls,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcome


class Probe(threading.Thread):
    """A SET and a GET on every shard, over and over: the slowest round trip shows how
    long another client's heavy command held a node up."""

    def __init__(self, port: int, keys: list[bytes]) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis(port=port, socket_timeout=60)
        self.keys = keys
        self.stopping = threading.Event()
        self.slowest = 0.0
        self.errors = 0

    def reset(self) -> tuple[float, int]:
        slowest, errors = self.slowest, self.errors
        self.slowest, self.errors = 0.0, 0
        return slowest, errors

    def run(self) -> None:
        n = 0
        while not self.stopping.is_set():
            for probe_key in self.keys:
                started = time.monotonic()
                try:
                    self.client.set(probe_key, b"%d" % n)
                    self.client.get(probe_key)
                except redis.RedisError:
                    self.errors += 1
                self.slowest = max(self.slowest, time.monotonic() - started)
            n += 1
            time.sleep(0.02)


def leaders_and_terms(cluster: LocalCluster) -> dict[int, tuple[int, int]]:
    found: dict[int, tuple[int, int]] = {}
    for answer in cluster.status():
        for info in answer.local:
            if info.leader == answer.node:
                found[info.id] = (info.leader, info.term)
    return found


def settle(cluster: LocalCluster, timeout: float = 60.0) -> bool:
    """Until every shard is led by its preferred replica (the leader balancer then moves
    nothing, so a later term change is an election); whether that happened in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shards = {info.id: info for answer in cluster.status() for info in answer.local}
        leaders = leaders_and_terms(cluster)
        if shards and all(
            info.replicas and leaders.get(shard, (0, 0))[0] == info.replicas[0]
            for shard, info in shards.items()
        ):
            return True
        time.sleep(0.2)
    return False


def load(client: redis.Redis, members: int, work: int) -> None:
    chunk = max(1, min(2_000, work // 4))

    def batched(build: Callable[[int, int], list[bytes]]) -> None:
        pipe = client.pipeline(transaction=False)
        for start in range(0, members, chunk):
            pipe.execute_command(*build(start, min(start + chunk, members)))
        pipe.execute()

    batched(
        lambda a, b: [b"ZADD", key("z"), *[x for n in range(a, b) for x in (b"%d" % n, b"m%d" % n)]]
    )
    batched(lambda a, b: [b"SADD", key("s"), *[b"m%d" % n for n in range(a, b)]])
    batched(
        lambda a, b: [
            b"HSET",
            key("h"),
            *[x for n in range(a, b) for x in (b"m%d" % n, b"v%d" % n)],
        ]
    )
    batched(lambda a, b: [b"RPUSH", key("l"), *[b"m%d" % n for n in range(a, b)]])
    batched(lambda a, b: [b"MSET", *[x for n in range(a, b) for x in (key(f"k{n}"), b"v")]])
    # Inputs of set algebra sized so that walk and result just fit: SUNION of one set and
    # SINTER walk it and return it (2 per member); ZUNIONSTORE walks one and stores its
    # members with their scores (3 per member).
    pipe = client.pipeline(transaction=False)
    for name, size in (("ss", min(members, work // 2 - 4)), ("zs", min(members, work // 3 - 4))):
        for start in range(0, size, chunk):
            stop = min(start + chunk, size)
            if name == "ss":
                pipe.execute_command(b"SADD", key(name), *[b"m%d" % n for n in range(start, stop)])
            else:
                pairs = [x for n in range(start, stop) for x in (b"%d" % n, b"m%d" % n)]
                pipe.execute_command(b"ZADD", key(name), *pairs)
    pipe.execute()
    # A string as long as the work limit lets a command read, and then some (by SETRANGE
    # steps within the limit).
    step = (work // 2) * BYTES_PER_ELEMENT
    for offset in range(0, (work + 8) * BYTES_PER_ELEMENT, step):
        client.setrange(key("str"), offset + step - 1, b"x")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="slotraft-heavy-"))
    cluster = LocalCluster(
        data_dir=workdir / "cluster", node_args=["--max-command-work", str(args.max_command_work)]
    )
    cluster.prepare()
    cluster.start()
    probe: Probe | None = None
    try:
        cluster.wait_until_serving(90)
        port = cluster.router_ports[0]
        client = redis.Redis(port=port, socket_timeout=120)
        print(f"loading {args.members:,}-member collections ...", file=sys.stderr, flush=True)
        load(client, args.members, args.max_command_work)
        settle(cluster)
        heavy_shard = cluster.shard_of(key("z"))
        probe = Probe(port, cluster.probe_keys())
        probe.start()
        only = [part for part in args.only.split(",") if part]
        print(
            f"3 nodes, 3 shards; collections of {args.members:,} on shard {heavy_shard}; "
            f"max-command-work {args.max_command_work:,}; {args.clients} clients x "
            f"{args.calls} calls per command"
        )
        print(
            f"{'command':<36}{'median s':>9}{'max s':>8}{'probe max s':>12}  "
            f"{'elections':<10} replies"
        )
        elections_total = 0
        for label, command in heavy_commands(args.max_command_work):
            if only and not any(part in label for part in only):
                continue
            before = leaders_and_terms(cluster)
            probe.reset()
            outcome = run_clients(port, command, args.clients, args.calls)
            time.sleep(0.3)  # an election the command caused shows up meanwhile
            probe_slowest, probe_errors = probe.reset()
            after = leaders_and_terms(cluster)
            changed = sorted(
                shard
                for shard in before.keys() | after.keys()
                if before.get(shard) != after.get(shard)
            )
            elections_total += len(changed)
            replies = "; ".join(f"{count}x {text}" for text, count in outcome.replies.items())
            if probe_errors:
                replies += f"; probe errors {probe_errors}"
            print(
                f"{label:<36}{statistics.median(outcome.latencies):>9.3f}"
                f"{max(outcome.latencies):>8.3f}{probe_slowest:>12.3f}  "
                f"{','.join(map(str, changed)) or 'none':<10} {replies}",
                flush=True,
            )
            if changed:
                settle(cluster)
        print(f"shards whose leader or term changed, summed over commands: {elections_total}")
        return 0
    finally:
        if probe is not None:
            probe.stopping.set()
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

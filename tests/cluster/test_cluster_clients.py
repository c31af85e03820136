"""Cluster-aware clients pointed at the routers, WAIT/WAITAOF from the shards' Raft match
indexes, ROLE, and SAVE/BGSAVE/BGREWRITEAOF/LASTSAVE taking snapshots on every node.

The module's cluster has two routers (tests/cluster/conftest.py); the failover test starts
its own."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

import pytest
import redis
from redis.cluster import RedisCluster

from proto import slotraft_pb2 as pb
from proto.slots import SLOT_COUNT, key_slot
from tests.cluster.conftest import STALL, dump_logs, running_cluster

pytestmark = pytest.mark.slow


def cluster_client(port: int) -> RedisCluster:
    return RedisCluster(host="127.0.0.1", port=port, socket_timeout=30)


def raw(port: int, *args: bytes) -> bytes:
    """The bytes of a one-line reply."""
    packed = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(packed)
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = connection.recv(4096)
            assert chunk
            data += chunk
    return data


def router_view(port: int) -> list[tuple[int, int, int]]:
    """CLUSTER SLOTS of one router as (first slot, last slot, port of its master)."""
    with redis.Redis(port=port, socket_timeout=10) as client:
        ranges = client.execute_command("CLUSTER", "SLOTS")
    return sorted((int(first), int(last), int(master[1])) for first, last, master, *_ in ranges)


def wait_for_view(port: int, ports: list[int], timeout: float = 20.0) -> list:
    """CLUSTER SLOTS of the router at `port` once it lists exactly the routers at `ports`."""
    deadline = time.monotonic() + timeout
    while True:
        view = router_view(port)
        if sorted({master for _, _, master in view}) == sorted(ports):
            return view
        assert time.monotonic() < deadline, f"router {port} lists {view}, not {ports}"
        time.sleep(0.2)


def test_every_router_lists_every_router_as_a_master_of_a_part_of_the_slots(cluster):
    ports = cluster.router_ports
    assert len(ports) == 2
    views = [wait_for_view(port, ports) for port in ports]
    assert views[0] == views[1], "the routers agree on who owns what"
    # Contiguous ranges covering every slot once, one per router.
    assert views[0][0][0] == 0 and views[0][-1][1] == SLOT_COUNT - 1
    assert all(a[1] + 1 == b[0] for a, b in zip(views[0], views[0][1:], strict=False))
    with redis.Redis(port=ports[0]) as client:
        nodes = client.execute_command("CLUSTER", "NODES").decode()
        myid = client.execute_command("CLUSTER", "MYID").decode()
        info = client.execute_command("CLUSTER", "INFO").decode()
        shards = client.execute_command("CLUSTER", "SHARDS")
    lines = nodes.splitlines()
    assert len(lines) == 2
    mine = next(line for line in lines if "myself" in line)
    assert mine.split()[0] == myid and f":{ports[0]}@" in mine
    assert "cluster_state:ok" in info and "cluster_known_nodes:2" in info
    assert len(shards) == 2


def test_redis_py_cluster_client_spreads_its_connections_over_both_routers(cluster):
    ports = cluster.router_ports
    for port in ports:
        wait_for_view(port, ports)
    client = cluster_client(ports[0])
    try:
        assert sorted(node.port for node in client.get_nodes()) == sorted(ports)
        values = {f"spread:{index}".encode(): b"%d" % index for index in range(300)}
        for key, value in values.items():
            assert client.set(key, value)
        # A pipeline over many slots, answered in order.
        pipe = client.pipeline()
        for key in values:
            pipe.get(key)
        pipe.incr(b"spread:counter")
        results = pipe.execute()
        assert results[:-1] == list(values.values())
        assert results[-1] >= 1
        # MGET across slots (the client splits it per slot and router).
        assert client.mget_nonatomic(list(values)) == list(values.values())
        # Both routers served this client's connections (CLIENT LIST shows every router's
        # clients: each is told by the address it connected to).
        with redis.Redis(port=ports[0]) as plain:
            listed = plain.client_list()
        for port in ports:
            assert any(
                entry.get("lib-name") == "redis-py" and entry["laddr"].endswith(f":{port}")
                for entry in listed
            ), port
        for node in client.get_nodes():
            assert node.redis_connection.connection_pool._created_connections > 0, node
        assert client.cluster_keyslot("spread:1") == key_slot(b"spread:1")
    finally:
        client.close()


def test_plain_clients_work_unchanged(cluster):
    with redis.Redis(port=cluster.router_ports[1]) as client:
        client.mset({b"plain:a": b"1", b"plain:b": b"2"})
        assert client.mget(b"plain:a", b"plain:b") == [b"1", b"2"]
        assert raw(cluster.router_ports[1], b"ASKING") == b"+OK\r\n"
        assert client.execute_command("READONLY") is True
        assert client.get(b"plain:a") in (b"1", None)  # a follower may lag
        assert client.execute_command("READWRITE") is True
        assert client.get(b"plain:a") == b"1"


def test_wait_counts_the_followers_holding_the_connections_last_write(cluster):
    with redis.Redis(port=cluster.router_ports[0], socket_timeout=30) as client:
        client.set(b"wait:a", b"1")
        assert client.wait(2, 5000) == 2
        client.set(b"wait:b", b"2")
        client.set(b"wait:{a}", b"3")
        assert client.wait(1, 0) >= 1
        # More than there are followers: waits for the whole timeout, then says how many.
        started = time.monotonic()
        assert client.wait(3, 400) == 2
        assert time.monotonic() - started >= 0.35
        assert client.execute_command("WAITAOF", 1, 2, 5000) == [1, 2]
        assert client.execute_command("WAITAOF", 0, 0, 0) == [1, 2]


def test_wait_after_a_follower_is_down_counts_the_one_left(cluster):
    key = b"wait:down"
    shard = cluster.shard_of(key)
    leader = cluster.leader_of(shard)
    assert leader
    (follower, *_) = [node for node in (1, 2, 3) if node != leader]
    process = cluster.node(follower)
    with redis.Redis(port=cluster.router_ports[0], socket_timeout=30) as client:
        cluster.pause(process)
        try:
            client.set(key, b"1")
            assert client.wait(2, 500) == 1
        finally:
            cluster.resume(process)
        assert client.wait(2, 10000) == 2
    # The stopped node says it stalled, and that it was not its own work (no CPU meanwhile).
    stalls = STALL.findall(process.log.read_bytes())
    assert any(int(cpu) * 2 < int(stalled) for stalled, cpu in stalls), stalls


def test_role_lists_the_nodes_as_replicas_with_raft_offsets(cluster):
    with redis.Redis(port=cluster.router_ports[0], socket_timeout=10) as client:
        client.set(b"role:a", b"1")
        role, offset, replicas = client.execute_command("ROLE")
    assert role == b"master"
    assert offset > 0
    node_ports = sorted(p.port for p in cluster.processes if p.role == "node")
    assert sorted(int(port) for _, port, _ in replicas) == node_ports
    assert all(0 < int(replica_offset) <= offset for _, _, replica_offset in replicas)


def snapshots_taken(cluster) -> dict[tuple[int, int], int]:
    """(node, shard) -> snapshots that replica has taken."""
    admin = cluster.admin()
    taken = {}
    for process in cluster.processes:
        if process.role != "node":
            continue
        for shard in range(cluster.shards):
            stats = admin.call(
                f"127.0.0.1:{process.port}", "Stats", pb.ShardStatsRequest(shard=shard), 5
            )
            taken[(process.id, shard)] = stats.values["snapshots"]
    return taken


def test_save_and_bgsave_snapshot_every_replica_and_move_lastsave(cluster):
    with redis.Redis(port=cluster.router_ports[0], socket_timeout=30) as client:
        client.set(b"save:a", b"1")
        before = snapshots_taken(cluster)
        first = client.lastsave()
        time.sleep(1.1)  # LASTSAVE has a resolution of one second
        assert client.save() is True
        after_save = snapshots_taken(cluster)
        assert all(after_save[key] > before[key] for key in before), (before, after_save)
        saved = client.lastsave()
        assert saved > first
        time.sleep(1.1)
        client.set(b"save:b", b"2")
        port = cluster.router_ports[0]
        assert raw(port, b"BGSAVE") == b"+Background saving started\r\n"
        deadline = time.monotonic() + 20
        while client.lastsave() == saved:
            assert time.monotonic() < deadline, "LASTSAVE never moved after BGSAVE"
            time.sleep(0.1)
        assert all(snapshots_taken(cluster)[key] > after_save[key] for key in before)
        reply = raw(port, b"BGREWRITEAOF")
        assert reply == b"+Background append only file rewriting started\r\n"


def test_keys_in_a_slot_are_counted_and_listed_by_its_shard(cluster):
    keys = [b"{slotkeys}:%d" % index for index in range(25)]
    slot = key_slot(keys[0])
    with redis.Redis(port=cluster.router_ports[1], socket_timeout=10) as client:
        client.mset(dict.fromkeys(keys, b"x"))
        assert client.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == len(keys)
        listed = client.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 10)
        assert len(listed) == 10 and set(listed) <= set(keys)
        assert set(client.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100)) == set(keys)


def test_a_router_that_goes_away_leaves_cluster_slots_within_seconds(cluster):
    ports = cluster.router_ports
    second = cluster.router(2)
    cluster.kill(second)
    try:
        view = wait_for_view(ports[0], [ports[0]], timeout=15)
        assert view == [(0, SLOT_COUNT - 1, ports[0])]
    finally:
        cluster.start_process(second)
    wait_for_view(ports[0], ports, timeout=30)
    cluster.wait_until_serving(60)


@dataclass
class ClusterWriterLog:
    acked: dict[bytes, bytes] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    rounds: int = 0


class ClusterWriter(threading.Thread):
    """Pipelines of SETs over many slots through a RedisCluster client."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.client = cluster_client(port)
        self.log = ClusterWriterLog()
        self.stopping = threading.Event()

    def run(self) -> None:
        index = 0
        while not self.stopping.is_set():
            batch = {b"fo:%d" % (index + n): b"v%d" % (index + n) for n in range(20)}
            index += len(batch)
            pipe = self.client.pipeline()
            for key, value in batch.items():
                pipe.set(key, value)
            try:
                if all(pipe.execute()):
                    self.log.acked.update(batch)
            except redis.RedisError as error:
                self.log.errors.append(f"{type(error).__name__}: {error}")
            self.log.rounds += 1

    def stop(self) -> ClusterWriterLog:
        self.stopping.set()
        self.join(120)
        self.client.close()
        return self.log


def test_cluster_client_writes_through_a_leader_failover_without_errors():
    with running_cluster(routers=2) as cluster:
        ports = cluster.router_ports
        for port in ports:
            wait_for_view(port, ports)
        writer = ClusterWriter(ports[0])
        writer.start()
        try:
            time.sleep(2)
            shard = cluster.shard_of(b"fo:0")
            leader = cluster.leader_of(shard)
            assert leader
            rounds_at_kill = writer.log.rounds
            cluster.kill(cluster.node(leader))
            time.sleep(5)
            assert writer.log.rounds > rounds_at_kill + 5, dump_logs(cluster)
            cluster.start_process(cluster.node(leader))
            time.sleep(2)
        finally:
            log = writer.stop()
        assert log.errors == []
        assert log.acked
        reader = cluster_client(ports[1])
        try:
            keys = list(log.acked)
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                assert reader.mget_nonatomic(chunk) == [log.acked[key] for key in chunk]
        finally:
            reader.close()

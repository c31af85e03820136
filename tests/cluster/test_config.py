"""Cluster-wide settings in a real cluster: CONFIG SET through one router reaches every
replica of every shard (eviction happens everywhere), the other router shows it, and it
survives a restart of the whole cluster; a node's --config file gives its start-up
values; CONFIG SET refused by name or value changes nothing anywhere."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import redis

from proto import slotraft_pb2 as pb
from proto import slotraft_pb2_grpc as pb_grpc
from slotraft.local_cluster import LocalCluster
from tests.cluster.conftest import running_cluster

MAXMEMORY = 256 * 1024  # per shard replica


def settings_shown(client: redis.Redis) -> bool:
    return client.config_get("maxmemory-policy") == {
        "maxmemory-policy": "allkeys-lru"
    } and client.config_get("maxmemory") == {"maxmemory": str(MAXMEMORY)}


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def node_addresses(cluster: LocalCluster) -> list[str]:
    assert cluster.description is not None
    return [node.raft_address for node in cluster.description.nodes]


def replica_stats(cluster: LocalCluster) -> dict[tuple[int, int], dict[str, int]]:
    """(node id, shard) -> that replica's engine counters, for every replica."""
    admin = cluster.admin()
    found = {}
    assert cluster.description is not None
    for node in cluster.description.nodes:
        report = pb_grpc.ConfigStub(admin.channel(node.raft_address)).Report(
            pb.StatusRequest(), timeout=5
        )
        for replica in report.replicas:
            stats = admin.call(
                node.raft_address, "Stats", pb.ShardStatsRequest(shard=replica.shard), 5
            )
            found[(node.id, replica.shard)] = dict(stats.values)
    return found


def fill(client: redis.Redis, prefix: str, count: int) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        pipe.set(f"{prefix}:{i}", "x" * 1000)
    pipe.execute()


def test_maxmemory_and_allkeys_lru_set_through_one_router_evict_on_every_shard():
    with running_cluster(routers=2) as cluster:
        first, second = (
            redis.Redis(port=port, socket_timeout=30, decode_responses=True)
            for port in cluster.router_ports
        )
        assert first.config_set("maxmemory", f"{MAXMEMORY // 1024}kb")
        assert first.execute_command("CONFIG", "SET", "maxmemory-policy", "allkeys-lru") == "OK"
        # The router that set it shows it at once, the other once its watch brings it.
        assert first.config_get("maxmemory") == {"maxmemory": str(MAXMEMORY)}
        wait_for(
            lambda: (
                second.config_get("maxmemory*")
                == {
                    "maxmemory": str(MAXMEMORY),
                    "maxmemory-policy": "allkeys-lru",
                    "maxmemory-samples": "5",
                    "maxmemory-clients": "0",
                    "maxmemory-eviction-tenacity": "10",
                }
            ),
            what="the second router to see the settings",
        )
        fill(first, "before", 3000)  # about 1 MB per shard: four times maxmemory

        def bounded_everywhere() -> bool:
            stats = replica_stats(cluster)
            return len(stats) == 9 and all(
                values["evicted_keys"] > 0 and values["used_memory"] <= MAXMEMORY
                for values in stats.values()
            )

        wait_for(bounded_everywhere, 60, "every replica of every shard to evict")
        info = first.info("memory")
        assert info["maxmemory"] == MAXMEMORY and info["maxmemory_policy"] == "allkeys-lru"
        assert first.info("stats")["evicted_keys"] > 0

        # A restart of every process: the metadata group's log (or snapshot) holds the
        # settings, each shard's log its settings entry.
        cluster.stop()
        cluster.start()
        cluster.wait_until_serving(90)
        first, second = (
            redis.Redis(port=port, socket_timeout=30, decode_responses=True)
            for port in cluster.router_ports
        )
        for client in (first, second):
            wait_for(partial(settings_shown, client), what="the settings after the restart")
        evicted_before = {key: v["evicted_keys"] for key, v in replica_stats(cluster).items()}
        fill(second, "after", 3000)
        wait_for(
            lambda: all(
                values["used_memory"] <= MAXMEMORY
                and values["evicted_keys"] > evicted_before.get(key, 0)
                for key, values in replica_stats(cluster).items()
            ),
            60,
            "every replica to evict again after the restart",
        )


def test_a_node_config_file_gives_the_start_up_values_and_config_set_overrides_them(tmp_path):
    config = tmp_path / "slotraft.conf"
    config.write_text(
        "# start-up values\n"
        "maxmemory 100mb\n"
        'maxmemory-policy "volatile-lru"\n'
        "slowlog-log-slower-than 5000\n"
        "timeout 0\n"
    )
    config.chmod(0o600)
    with running_cluster(
        routers=2, node_args=["--config", str(config)], router_args=["--config", str(config)]
    ) as cluster:
        first, second = (
            redis.Redis(port=port, socket_timeout=30, decode_responses=True)
            for port in cluster.router_ports
        )
        assert first.config_get("maxmemory") == {"maxmemory": str(100 * 1024 * 1024)}
        assert first.config_get("maxmemory-policy") == {"maxmemory-policy": "volatile-lru"}
        assert first.config_get("slowlog-log-slower-than") == {"slowlog-log-slower-than": "5000"}
        assert first.execute_command("CONFIG", "SET", "maxmemory-policy", "allkeys-random") == "OK"
        wait_for(
            lambda: second.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-random"},
            what="the other router to see the change",
        )
        assert second.config_get("maxmemory") == {"maxmemory": str(100 * 1024 * 1024)}


def test_a_refused_config_set_changes_nothing(tmp_path):
    with running_cluster(routers=2) as cluster:
        first, second = (
            redis.Redis(port=port, socket_timeout=30, decode_responses=True)
            for port in cluster.router_ports
        )
        for args in (("slowlog-max-len", "10", "hz", "20"), ("maxmemory", "1mb", "nosuch", "1")):
            try:
                first.execute_command("CONFIG", "SET", *args)
            except redis.ResponseError:
                pass
            else:
                raise AssertionError(f"CONFIG SET {args} was taken")
        time.sleep(1)
        for client in (first, second):
            assert client.config_get("slowlog-max-len") == {"slowlog-max-len": "128"}
            assert client.config_get("maxmemory") == {"maxmemory": "0"}
        assert first.execute_command("CONFIG", "SET", "slowlog-max-len", "10") == "OK"
        wait_for(
            lambda: second.config_get("slowlog-max-len") == {"slowlog-max-len": "10"},
            what="the slowlog setting on the other router",
        )

"""Every process of a local cluster (as `slotraft up` starts it) serves Prometheus metrics:
after some traffic each node's and router's endpoint is scraped, parsed with
prometheus_client's parser, and the series the dashboards need are there with plausible
values. Then a shard leader is killed while clients write: the routers' metrics and their
log show the failover, in a few lines however many requests retried."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from slotraft.local_cluster import LocalCluster, Process
from tests.cluster.conftest import running_cluster

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "slotraft-dashboard.json"
KEYS = 1500
SNAPSHOT_ENTRIES = 100

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(process: Process) -> tuple[Samples, set[str]]:
    """The process's samples by (name, labels), and the names of its metric families."""
    with urllib.request.urlopen(f"http://{process.metrics}/metrics", timeout=10) as answer:
        assert answer.status == 200
        text = answer.read().decode()
    samples: Samples = {}
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        for sample in family.samples:
            names.add(sample.name)
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, names


def series(samples: Samples, name: str, **labels: str) -> dict[tuple, float]:
    """The samples of `name` whose labels include `labels`, by their full labels."""
    wanted = set(labels.items())
    return {
        key_labels: value
        for (sample_name, key_labels), value in samples.items()
        if sample_name == name and wanted <= set(key_labels)
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    found = series(samples, name, **labels)
    assert len(found) == 1, f"{name} {labels}: {found}"
    return next(iter(found.values()))


def per_shard(samples: Samples, name: str, **labels: str) -> dict[int, float]:
    return {
        int(dict(key)["shard"]): found for key, found in series(samples, name, **labels).items()
    }


def check_histogram(samples: Samples, name: str, **labels: str) -> float:
    """Buckets cumulative and ending in the count; returns the count."""
    buckets = series(samples, f"{name}_bucket", **labels)
    ordered = sorted(buckets.items(), key=lambda item: float(dict(item[0])["le"]))
    counts = [count for _, count in ordered]
    assert counts == sorted(counts), f"{name} {labels}: buckets not cumulative: {ordered}"
    count = value(samples, f"{name}_count", **labels)
    assert dict(ordered[-1][0])["le"] == "+Inf" and counts[-1] == count
    assert value(samples, f"{name}_sum", **labels) >= 0
    return count


def check_process_metrics(samples: Samples) -> None:
    assert value(samples, "process_resident_memory_bytes") > 10 << 20
    assert value(samples, "process_cpu_seconds_total") > 0
    assert value(samples, "process_open_fds") > 0
    assert series(samples, "python_info")


def check_router(samples: Samples, shards: int) -> None:
    assert value(samples, "slotraft_router_commands_total", command="set") >= KEYS
    assert value(samples, "slotraft_router_commands_total", command="get") >= KEYS
    assert value(samples, "slotraft_router_command_errors_total", command="set") == 0
    assert value(samples, "slotraft_router_command_errors_total", command="lpush") == 1
    assert value(samples, "slotraft_router_command_errors_total", command="unknown") == 1
    for command in ("set", "get"):
        calls = value(samples, "slotraft_router_commands_total", command=command)
        count = check_histogram(
            samples, "slotraft_router_command_duration_seconds", command=command
        )
        assert count == calls
        mean = value(samples, "slotraft_router_command_duration_seconds_sum", command=command)
        assert 0 < mean / count < 1.0, f"mean {command} latency {mean / count} s"
    assert value(samples, "slotraft_router_connected_clients") >= 1
    leaders = per_shard(samples, "slotraft_router_shard_leader")
    assert sorted(leaders) == list(range(shards))
    assert all(1 <= node <= 3 for node in leaders.values()), leaders
    assert set(per_shard(samples, "slotraft_router_retries_total")) == set(range(shards))
    check_process_metrics(samples)


def check_nodes(scraped: dict[int, Samples], shards: int) -> None:
    leaders_seen: dict[int, list[int]] = defaultdict(list)
    keys_on_leaders = 0.0
    for node, samples in scraped.items():
        assert value(samples, "slotraft_node_info", node=str(node)) == 1
        roles = series(samples, "slotraft_shard_role")
        for shard in range(shards):
            mine = {dict(k)["role"]: v for k, v in roles.items() if dict(k)["shard"] == str(shard)}
            assert sum(mine.values()) == 1, f"node {node} shard {shard}: {mine}"
            assert set(mine) == {"leader", "follower", "candidate", "pre-candidate", "failed"}
            if mine["leader"] == 1:
                leaders_seen[shard].append(node)
                assert per_shard(samples, "slotraft_shard_proposals_total")[shard] > 0
                keys_on_leaders += per_shard(samples, "slotraft_shard_keys")[shard]
        term = per_shard(samples, "slotraft_shard_term")
        commit = per_shard(samples, "slotraft_shard_commit_index")
        applied = per_shard(samples, "slotraft_shard_applied_index")
        lag = per_shard(samples, "slotraft_shard_apply_lag")
        for shard in range(shards):
            assert term[shard] >= 1
            assert applied[shard] > 0 and commit[shard] >= applied[shard]
            assert lag[shard] == commit[shard] - applied[shard]
            assert per_shard(samples, "slotraft_shard_leader")[shard] in (1, 2, 3)
            assert per_shard(samples, "slotraft_shard_used_memory_bytes")[shard] > 0
            assert per_shard(samples, "slotraft_shard_keys")[shard] > 0
            assert per_shard(samples, "slotraft_shard_snapshots_total")[shard] >= 1
            assert per_shard(samples, "slotraft_shard_leader_changes_total")[shard] >= 0
            name = "slotraft_shard_snapshot_size_bytes"
            assert check_histogram(samples, name, shard=str(shard)) >= 1
            assert value(samples, f"{name}_sum", shard=str(shard)) > 0
            name = "slotraft_shard_snapshot_duration_seconds"
            assert check_histogram(samples, name, shard=str(shard)) >= 1
        fsyncs = check_histogram(samples, "slotraft_wal_fsync_duration_seconds")
        assert fsyncs > 0 and value(samples, "slotraft_wal_fsync_duration_seconds_sum") > 0
        assert value(samples, "slotraft_wal_batches_total") >= fsyncs - 1
        assert value(samples, "slotraft_wal_written_bytes_total") > 0
        assert value(samples, "slotraft_wal_segments") >= 1
        check_process_metrics(samples)
    assert {shard: len(nodes) for shard, nodes in leaders_seen.items()} == dict.fromkeys(
        range(shards), 1
    ), leaders_seen
    # The probe keys of wait_until_serving (one per shard) may or may not have expired.
    assert KEYS <= keys_on_leaders <= KEYS + shards


def dashboard_metric_names() -> set[str]:
    exprs = [
        target["expr"]
        for panel in json.loads(DASHBOARD.read_text())["panels"]
        for target in panel["targets"]
    ]
    assert exprs
    return {
        name for expr in exprs for name in re.findall(r"\b((?:slotraft|process)_[a-z_]+)", expr)
    }


def scrape_all(cluster: LocalCluster) -> tuple[dict[int, Samples], list[Samples], set[str]]:
    nodes: dict[int, Samples] = {}
    routers: list[Samples] = []
    names: set[str] = set()
    for process in cluster.processes:
        assert process.metrics, f"{process.role} {process.id} serves no metrics"
        samples, found = scrape(process)
        names |= found
        if process.role == "node":
            nodes[process.id] = samples
        else:
            routers.append(samples)
    return nodes, routers, names


def test_every_process_serves_the_metrics_the_dashboard_needs():
    options = {"node_args": ["--snapshot-entries", str(SNAPSHOT_ENTRIES)]}
    with running_cluster(**options) as cluster:
        shards = cluster.shards
        client = redis.Redis(port=cluster.router_ports[0], socket_timeout=30)
        for index in range(KEYS):
            assert client.set(f"metrics:{index}", index)
        values = client.mget([f"metrics:{i}" for i in range(KEYS)])
        assert [int(v) for v in values if v is not None] == list(range(KEYS))
        for index in range(KEYS):
            client.get(f"metrics:{index}")
        for command in (("LPUSH", "metrics:0", "x"), ("NOSUCHCOMMAND",)):
            with pytest.raises(redis.ResponseError):
                client.execute_command(*command)
        cluster.wait_until_caught_up()
        for attempt in range(20):  # a leader may be handing over to its preferred node
            nodes, routers, names = scrape_all(cluster)
            try:
                check_nodes(nodes, shards)
                break
            except AssertionError:
                if attempt == 19:
                    raise
                time.sleep(0.5)
        (router,) = routers
        check_router(router, shards)
        missing = dashboard_metric_names() - names
        assert not missing, f"the dashboard uses metrics no process serves: {missing}"
        client.close()


def test_a_failover_shows_in_the_routers_metrics_and_in_a_few_log_lines():
    """SIGKILL of shard 0's leader while 16 clients write: the router retries, finds the
    new leader, and says so at INFO: a line for the first retry of each shard, one for each
    new leader, and then at most one per shard and kind every 5 s, however many requests
    were retried."""
    with running_cluster() as cluster:
        router = cluster.router(1)
        before, _ = scrape(router)
        leader = cluster.leader_of(0)
        assert leader
        stop = threading.Event()
        acked = [0]

        def write(worker: int) -> None:
            client = redis.Redis(port=router.port, socket_timeout=30)
            index = 0
            while not stop.is_set():
                try:
                    client.set(f"failover:{worker}:{index}", index)
                    acked[0] += 1
                except redis.RedisError:
                    pass
                index += 1
            client.close()

        writers = [threading.Thread(target=write, args=(n,), daemon=True) for n in range(16)]
        started = time.monotonic()
        for thread in writers:
            thread.start()
        time.sleep(1)
        cluster.kill(cluster.node(leader))
        deadline = time.monotonic() + 60
        while cluster.leader_of(0) in (0, leader):
            assert time.monotonic() < deadline, "no new leader for shard 0"
            time.sleep(0.2)
        time.sleep(2)  # writes go on through the new leader
        stop.set()
        for thread in writers:
            thread.join(60)
        cluster.start_process(cluster.node(leader))
        after, _ = scrape(router)
        retries = per_shard(after, "slotraft_router_retries_total")
        changes = per_shard(after, "slotraft_router_leader_changes_total")
        assert retries[0] > 0 and changes[0] >= 1
        assert per_shard(after, "slotraft_router_shard_leader")[0] not in (0, leader)
        assert per_shard(before, "slotraft_router_retries_total")[0] < retries[0]
        assert acked[0] > 0

        # A line may wait for the end of a 5 s window opened by an earlier event of its
        # kind (the retries of the router's first requests, which went to replicas[0]).
        changed = (
            rf"INFO slotraft.router.events: shard 0: .*leader is node \d \(was node {leader}\)"
        )
        retried = r"INFO slotraft.router.events: shard 0: .*(retried after|more retries)"
        deadline = time.monotonic() + 20
        while not (re.search(changed, log := router.log.read_text()) and re.search(retried, log)):
            assert time.monotonic() < deadline, f"no failover in the router's log:\n{log}"
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        retry_lines = [line for line in log.splitlines() if "retried after" in line]
        retry_lines += [line for line in log.splitlines() if "more retries in the last" in line]
        # One line at the start of each shard's storm, then one per 5 s while it lasts.
        assert len(retry_lines) <= shards_with_retries(retries) * (elapsed / 5 + 2), retry_lines
        total_retries = sum(retries.values())
        print(f"{total_retries:.0f} retries, {len(retry_lines)} log lines about them")


def shards_with_retries(retries: dict[int, float]) -> int:
    return sum(1 for count in retries.values() if count)


def test_up_gives_each_process_a_metrics_port_and_lists_it_in_cluster_json(tmp_path):
    from slotraft.up import STATE_FILE, write_state

    cluster = LocalCluster(data_dir=tmp_path, routers=2)
    cluster.prepare()
    try:
        write_state(cluster)
        listed = json.loads((tmp_path / STATE_FILE).read_text())["processes"]
    finally:
        cluster.stop()
    assert sorted((p["role"], p["id"]) for p in listed) == [
        ("node", 1), ("node", 2), ("node", 3), ("router", 1), ("router", 2)
    ]  # fmt: skip
    addresses = [p["metrics"] for p in listed]
    assert len(set(addresses)) == 5
    assert all(re.fullmatch(r"127\.0\.0\.1:\d+", address) for address in addresses)
    for process in cluster.processes:
        assert process.command[process.command.index("--metrics") + 1] == process.metrics

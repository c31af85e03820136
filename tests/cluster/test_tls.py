"""A cluster in mutual TLS (`slotraft up --tls`'s setup): every node-to-node link runs
through a recording proxy, and the bytes on the wire hold no plaintext key or value (with
TLS off they do, so the check can fail); the routers serve redis-cli and redis-py over TLS;
a node refuses plain TCP and certificates of another CA before its handshake; the cluster
secret is still proved inside TLS; `slotraft ctl` finds the certificates."""

from __future__ import annotations

import argparse
import contextlib
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import redis
from redis.cluster import RedisCluster

from chaos.proxy import ProxyNetwork
from proto import slotraft_pb2 as pb
from proto.credentials import create_secret_file
from slotraft import up
from slotraft.admin_client import AdminClient, tool_credentials
from slotraft.certs import CertPaths, make_certificates, tls_of_dir
from slotraft.local_cluster import LocalCluster
from slotraft.up import serving_message
from tests.cluster.conftest import dump_logs

pytestmark = pytest.mark.slow  # real clusters of processes


@contextlib.contextmanager
def proxied_cluster(tls: bool) -> Iterator[tuple[LocalCluster, ProxyNetwork]]:
    """3 nodes whose links to each other all pass a recording proxy."""
    data_dir = Path(tempfile.mkdtemp(prefix="slotraft-test-"))
    cluster = LocalCluster(data_dir=data_dir, tls=tls, metrics=False, routers=2 if tls else 1)
    network = ProxyNetwork(record=True)
    try:
        description = cluster.prepare()
        addresses = {node.id: node.raft_address for node in description.nodes}
        for process in cluster.processes:
            if process.role != "node":
                continue
            for peer, address in addresses.items():
                if peer != process.id:
                    host, port = address.rsplit(":", 1)
                    proxy_port = network.add((process.id, peer), (host, int(port)))
                    process.command += ["--peer", f"{peer}=127.0.0.1:{proxy_port}"]
        cluster.start()
        cluster.wait_until_serving(90)
        yield cluster, network
    except BaseException:
        print(dump_logs(cluster))
        raise
    finally:
        cluster.stop()
        network.close()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_cluster() -> Iterator[tuple[LocalCluster, ProxyNetwork]]:
    with proxied_cluster(tls=True) as running:
        yield running


def canary_written(cluster: LocalCluster) -> tuple[bytes, bytes]:
    """A key and value written through the router and replicated to every node."""
    key = b"canary:key:" + secrets.token_hex(8).encode()
    value = b"canary-value-" + secrets.token_hex(8).encode()
    with redis.Redis(port=cluster.router_ports[0], socket_timeout=10) as client:
        assert client.set(key, value)
    cluster.wait_until_caught_up(30)
    return key, value


def test_node_links_carry_no_plaintext_under_tls(tls_cluster) -> None:
    cluster, network = tls_cluster
    key, value = canary_written(cluster)
    wire = network.recorded()
    assert len(wire) > 10_000  # the links carried the cluster's traffic
    assert key not in wire and value not in wire
    assert b"\x17\x03\x03" in wire  # TLS application-data records


def test_node_links_carry_plaintext_without_tls() -> None:
    """The same capture without TLS finds the key: the check above can fail."""
    with proxied_cluster(tls=False) as (cluster, network):
        key, value = canary_written(cluster)
        wire = network.recorded()
        assert key in wire and value in wire


def test_routers_serve_tls_clients(tls_cluster) -> None:
    cluster, _ = tls_cluster
    certs = CertPaths(cluster.tls_dir)
    port = cluster.router_tls_ports[0]
    cli = ["redis-cli", "-p", str(port), "--tls", "--cacert", str(certs.ca)]
    cli += ["--cert", str(certs.cert("client")), "--key", str(certs.key("client"))]
    done = subprocess.run([*cli, "SET", "tls:k", "v"], capture_output=True, text=True, timeout=10)
    assert done.stdout.strip() == "OK", done.stderr
    with redis.Redis(
        port=port,
        ssl=True,
        ssl_ca_certs=str(certs.ca),
        ssl_certfile=str(certs.cert("client")),
        ssl_keyfile=str(certs.key("client")),
        socket_timeout=10,
    ) as client:
        assert client.get("tls:k") == b"v"
        assert client.config_get("tls-cluster") == {"tls-cluster": "yes"}


def as_map(reply: object) -> dict:
    """A RESP2 map (a flat list of names and values) or what redis-py made of it."""
    if isinstance(reply, dict):
        return {k if isinstance(k, bytes) else str(k).encode(): v for k, v in reply.items()}
    assert isinstance(reply, list)
    return dict(zip(reply[::2], reply[1::2], strict=True))


def test_cluster_clients_over_tls_are_given_the_tls_ports(tls_cluster) -> None:
    """CLUSTER SLOTS, SHARDS and NODES name each router's TLS port to a client connected
    over TLS (Redis 7.2's rule), its plain port to the others; a RedisCluster client over
    TLS then works through them."""
    cluster, _ = tls_cluster
    certs = CertPaths(cluster.tls_dir)
    tls_options: dict[str, Any] = {
        "ssl": True,
        "ssl_ca_certs": str(certs.ca),
        "ssl_certfile": str(certs.cert("client")),
        "ssl_keyfile": str(certs.key("client")),
    }
    plain_ports = sorted(cluster.router_ports)
    tls_ports = sorted(cluster.router_tls_ports)
    with redis.Redis(port=cluster.router_tls_ports[0], socket_timeout=10, **tls_options) as c:
        deadline = time.monotonic() + 30
        while True:  # the routers learn each other's ports through the nodes, each second
            slots = c.execute_command("CLUSTER", "SLOTS")
            if len(slots) == len(tls_ports) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert sorted(int(entry[2][1]) for entry in slots) == tls_ports
        shards = [as_map(shard) for shard in c.execute_command("CLUSTER", "SHARDS")]
        nodes = [as_map(node) for shard in shards for node in shard[b"nodes"]]
        assert sorted(int(n[b"port"]) for n in nodes) == plain_ports
        assert sorted(int(n[b"tls-port"]) for n in nodes) == tls_ports
        listed = c.execute_command("CLUSTER", "NODES")
        listed = listed.decode() if isinstance(listed, bytes) else str(listed)
        assert (
            sorted(
                int(line.split()[1].split("@")[0].rsplit(":", 1)[1]) for line in listed.splitlines()
            )
            == tls_ports
        )
    with redis.Redis(port=cluster.router_ports[0], socket_timeout=10) as plain:
        slots = plain.execute_command("CLUSTER", "SLOTS")
        assert sorted(int(entry[2][1]) for entry in slots) == plain_ports
    client = RedisCluster(
        host="127.0.0.1", port=cluster.router_tls_ports[0], socket_timeout=10, **tls_options
    )
    try:
        for index in range(20):
            assert client.set(f"tls-cluster:{index}", index)
        assert client.get("tls-cluster:7") == b"7"
    finally:
        client.close()


def node_port(cluster: LocalCluster) -> int:
    return cluster.node(1).port


def test_a_node_refuses_plain_tcp_and_foreign_certificates(tls_cluster, tmp_path: Path) -> None:
    cluster, _ = tls_cluster
    # Plain TCP: no handshake nonce comes back (without TLS the node sends it first).
    with socket.create_connection(("127.0.0.1", node_port(cluster)), timeout=5) as sock:
        sock.sendall(b"\x00" * 64)
        sock.settimeout(5)
        with contextlib.suppress(ConnectionResetError):
            answer = sock.recv(4096)
            assert not answer or answer[0] == 0x15  # nothing, or a TLS alert
    # A certificate of another CA: the TLS handshake fails.
    other = make_certificates(tmp_path / "other")
    context = ssl.create_default_context(cafile=str(CertPaths(cluster.tls_dir).ca))
    context.check_hostname = False
    context.load_cert_chain(other.cert("node"), other.key("node"))
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        exchange(node_port(cluster), context)


def exchange(port: int, context: ssl.SSLContext) -> None:
    """A TLS connection that sends some bytes and expects an answer (a refused
    certificate shows as an SSLError or a closed connection)."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw) as sock,
    ):
        sock.sendall(b"\x00" * 64)
        if not sock.recv(4096):
            raise ConnectionResetError("closed")


def admin_status(
    cluster: LocalCluster, secret_file: Path, tls: ssl.SSLContext | None
) -> pb.ClusterStatus:
    assert cluster.description is not None
    credentials = tool_credentials(secret_file, cluster_id=cluster.description.cluster_id, tls=tls)
    with AdminClient(credentials) as admin:
        address = f"127.0.0.1:{node_port(cluster)}"
        return admin.call(address, "Status", pb.StatusRequest(), 5)


def test_the_cluster_secret_is_still_proved_inside_tls(tls_cluster, tmp_path: Path) -> None:
    cluster, _ = tls_cluster
    tls = tls_of_dir(cluster.tls_dir)
    assert admin_status(cluster, cluster.secret_file, tls).node == 1
    wrong = tmp_path / "wrong.secret"
    create_secret_file(wrong)
    with pytest.raises(grpc.RpcError):
        admin_status(cluster, wrong, tls)  # the right CA, the wrong secret
    with pytest.raises(grpc.RpcError):
        admin_status(cluster, cluster.secret_file, None)  # the right secret, no TLS


def ctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "slotraft.cli", "ctl", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_ctl_uses_the_data_directory_certificates_or_its_flags(tls_cluster) -> None:
    cluster, _ = tls_cluster
    done = ctl("--data-dir", str(cluster.data_dir), "status")
    assert done.returncode == 0, done.stderr
    assert "node 1" in done.stdout and "up" in done.stdout, done.stdout
    # As the compose health checks call it: the node and the TLS files named.
    certs = CertPaths(cluster.tls_dir)
    flags = ["--tls-cluster", "yes", "--tls-cert-file", str(certs.cert("node"))]
    flags += ["--tls-key-file", str(certs.key("node")), "--tls-ca-cert-file", str(certs.ca)]
    secret = ["--cluster-secret-file", str(cluster.secret_file)]
    node = ["--node", f"127.0.0.1:{node_port(cluster)}"]
    done = ctl(*node, *secret, *flags, "health")
    assert done.returncode == 0, done.stderr + done.stdout


def test_up_prints_the_tls_line_and_passes_router_options(tls_cluster) -> None:
    cluster, _ = tls_cluster
    message = serving_message(cluster)
    port = cluster.router_tls_ports[0]
    assert f"-p {port} --tls --cacert {cluster.tls_dir.resolve()}/ca.crt" in message
    router = cluster.router(1)
    assert router.command[router.command.index("--tls-port") + 1] == str(port)
    assert "--tls-cluster" in cluster.node(1).command
    parser = argparse.ArgumentParser()
    up.add_arguments(parser)
    args = parser.parse_args(["--tls-auth-clients", "optional", "--tls-protocols", "TLSv1.3"])
    assert up.tls_router_arguments(args) == [
        "--tls-auth-clients",
        "optional",
        "--tls-protocols",
        "TLSv1.3",
    ]

"""deploy/make-certs.sh makes the compose TLS variant's CA and certificates with openssl
(keys not readable by others, the CA's key by its owner only, kept on a second run), the
router and node TLS contexts accept them and a TLS client is served with them; the TLS
override gives every node and router its flags, certificates and group. No Docker engine
needed (the compose check needs the compose program)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import redis

from proto.tls import TlsFiles
from slotraft.local_cluster import free_port
from tests.docker.test_init_env import compose_program
from tests.router.support import RouterThread

ROOT = Path(__file__).resolve().parents[2]
MAKE_CERTS = ROOT / "deploy" / "make-certs.sh"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def make_certs(directory: Path, env_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MAKE_CERTS), str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "SLOTRAFT_ENV_FILE": str(env_file), "SLOTRAFT_TLS_NAMES": "db.example"},
    )


def test_make_certs_makes_a_usable_set(tmp_path: Path) -> None:
    directory, env_file = tmp_path / "tls", tmp_path / ".env"
    done = make_certs(directory, env_file)
    assert done.returncode == 0, done.stderr
    mode = {p.name: stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir()}
    assert mode["ca.key"] == 0o600
    assert all(mode[f"{name}.key"] & 0o007 == 0 for name in ("node", "server", "client"))
    assert f"SLOTRAFT_TLS_GID={os.getgid()}" in env_file.read_text()
    names = subprocess.run(
        [
            "openssl",
            "x509",
            "-in",
            str(directory / "server.crt"),
            "-noout",
            "-ext",
            "subjectAltName",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "DNS:node1" in names and "IP Address:127.0.0.1" in names and "DNS:db.example" in names
    node = TlsFiles(directory / "node.crt", directory / "node.key", directory / "ca.crt")
    node.server_context("yes")  # what a node listens with
    node.client_context()  # what routers and nodes connect with
    before = (directory / "ca.crt").read_bytes()
    again = make_certs(directory, env_file)
    assert again.returncode == 0, again.stderr
    assert (directory / "ca.crt").read_bytes() == before  # kept
    assert env_file.read_text().count("SLOTRAFT_TLS_GID=") == 1
    tls = {
        "tls-port": str(free_port()),
        "tls-cert-file": str(directory / "server.crt"),
        "tls-key-file": str(directory / "server.key"),
        "tls-ca-cert-file": str(directory / "ca.crt"),
    }
    with (
        RouterThread(shards=1, tls=tuple(sorted(tls.items()))),
        redis.Redis(
            port=int(tls["tls-port"]),
            ssl=True,
            ssl_ca_certs=str(directory / "ca.crt"),
            ssl_certfile=str(directory / "client.crt"),
            ssl_keyfile=str(directory / "client.key"),
            socket_timeout=5,
        ) as client,
    ):
        assert client.ping()


def test_the_tls_override_configures_every_node_and_router(tmp_path: Path) -> None:
    program = compose_program()
    copy = tmp_path / "deploy"
    copy.mkdir()
    for name in ("docker-compose.yml", "docker-compose.tls.yml"):
        shutil.copy(ROOT / "deploy" / name, copy / name)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLOTRAFT_", "COMPOSE_"))}
    env = {
        **clean,
        "SLOTRAFT_CLUSTER_SECRET": "s" * 40,
        "SLOTRAFT_CLUSTER_ID": "slotraft-test",
        "SLOTRAFT_PASSWORD": "p" * 40,
    }
    files = ["-f", str(copy / "docker-compose.yml"), "-f", str(copy / "docker-compose.tls.yml")]

    done = subprocess.run(
        [*program, *files, "config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**env, "SLOTRAFT_TLS_GID": "4321"},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.count("--tls-cluster") == 3 + 3 + 3  # 3 nodes, their health checks, 3 routers
    # Each router's TLS port, and router 1's announced one (router 2 announces 6391).
    assert text.count("- '6390'") + text.count('- "6390"') == 4
    assert text.count("--announce-tls-port") == 2
    assert text.count("- '6391'") + text.count('- "6391"') == 1
    assert text.count("/etc/slotraft/tls:ro") == 6
    assert text.count("4321") == 6  # each container may read the keys
    assert text.count("node1-data:/data") + text.count("source: node1-data") == 1  # kept

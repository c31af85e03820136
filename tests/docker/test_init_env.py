"""deploy/init-env.sh writes the compose cluster's secrets into an env file readable by its
owner only, keeps what is already there, and deploy/docker-compose.yml refuses to start
without them. Neither needs a Docker engine (the compose checks need the compose program)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from proto.handshake import SECRET_MIN_BYTES
from proto.topology import _CLUSTER_ID

ROOT = Path(__file__).resolve().parents[2]
INIT_ENV = ROOT / "deploy" / "init-env.sh"
COMPOSE_FILE = ROOT / "deploy" / "docker-compose.yml"
KEYS = ("SLOTRAFT_CLUSTER_SECRET", "SLOTRAFT_CLUSTER_ID", "SLOTRAFT_PASSWORD")


def init_env(env_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(INIT_ENV), str(env_file)], capture_output=True, text=True, timeout=30, check=False
    )


def values(env_file: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def test_init_env_writes_a_secret_an_id_and_a_password_for_the_owner_only(tmp_path):
    env_file = tmp_path / ".env"
    done = init_env(env_file)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    written = values(env_file)
    assert sorted(written) == sorted(KEYS)
    assert len(written["SLOTRAFT_CLUSTER_SECRET"]) >= SECRET_MIN_BYTES
    assert len(written["SLOTRAFT_PASSWORD"]) >= 32
    assert _CLUSTER_ID.fullmatch(written["SLOTRAFT_CLUSTER_ID"]), "a cluster id the nodes take"
    assert str(env_file) in done.stdout and "SLOTRAFT_PASSWORD" in done.stdout
    for value in written.values():
        assert value not in done.stdout + done.stderr, "it printed a secret"
    other = tmp_path / "other.env"
    init_env(other)
    assert all(values(other)[key] != written[key] for key in KEYS), "not random"


def test_init_env_keeps_what_is_there_and_fills_in_the_rest(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# mine\nSLOTRAFT_PASSWORD=my-own-password\nSLOTRAFT_CLUSTER_ID=\nSLOTRAFT_PORT_1=7379"
    )
    env_file.chmod(0o644)
    done = init_env(env_file)
    assert done.returncode == 0, done.stderr
    assert "kept SLOTRAFT_PASSWORD" in done.stdout
    lines = env_file.read_text().splitlines()
    assert lines[:2] == ["# mine", "SLOTRAFT_PASSWORD=my-own-password"]
    assert "SLOTRAFT_PORT_1=7379" in lines
    assert "SLOTRAFT_CLUSTER_ID=" not in lines, "the empty line stays and shadows the new one"
    first = values(env_file)
    assert first["SLOTRAFT_CLUSTER_ID"] and first["SLOTRAFT_CLUSTER_SECRET"]
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600

    again = init_env(env_file)
    assert again.returncode == 0 and "wrote" not in again.stdout
    assert values(env_file) == first
    assert not [p.name for p in tmp_path.iterdir() if p.name not in (".env",)]


def test_init_env_refuses_a_secret_too_short_for_the_nodes(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("SLOTRAFT_CLUSTER_SECRET=short\n")
    done = init_env(env_file)
    assert done.returncode != 0
    assert "shorter than" in done.stderr
    assert env_file.read_text() == "SLOTRAFT_CLUSTER_SECRET=short\n"


def compose_program() -> list[str]:
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if shutil.which("docker") and probe.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.skip("neither `docker compose` nor `docker-compose` is installed")


def compose_config(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`compose config` of a copy of the compose file, so that no deploy/.env is read."""
    copy = tmp_path / "deploy"
    copy.mkdir(exist_ok=True)
    shutil.copy(COMPOSE_FILE, copy / "docker-compose.yml")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLOTRAFT_", "COMPOSE_"))}
    return subprocess.run(
        [*compose_program(), "-f", str(copy / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**clean, **env},
        cwd=tmp_path,
    )


def test_compose_refuses_to_start_without_the_secrets_and_says_what_to_run(tmp_path):
    secret = "s" * 40
    complete = {
        "SLOTRAFT_CLUSTER_SECRET": secret,
        "SLOTRAFT_CLUSTER_ID": "slotraft-test",
        "SLOTRAFT_PASSWORD": "p" * 40,
    }
    for missing in KEYS:
        env = {key: value for key, value in complete.items() if key != missing}
        done = compose_config(tmp_path, env)
        assert done.returncode != 0, f"compose started without {missing}"
        assert f"{missing} is not set: run deploy/init-env.sh" in done.stderr, done.stderr
    done = compose_config(tmp_path, complete)
    assert done.returncode == 0, done.stderr
    # In the containers' environment, never on a command line (anyone on a host reads those).
    config = done.stdout
    assert config.count(secret) == 6  # 3 nodes, 2 routers, the extra-router service
    assert config.count("p" * 40) == 3
    for line in config.splitlines():
        if secret in line or "p" * 40 in line:
            assert line.strip().startswith(("SLOTRAFT_CLUSTER_SECRET:", "SLOTRAFT_PASSWORD:"))

"""The router's TLS port (Redis's tls-* options): redis-cli and redis-py over TLS, client
certificates as tls-auth-clients asks, protocol versions and TLSv1.3 suites, plaintext
refused; the options from flags, a --config file and CONFIG GET."""

from __future__ import annotations

import argparse
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from proto.tls import TlsError, TlsFiles, _set_ciphersuites
from router import main as router_main
from slotraft.certs import CertPaths, make_certificates
from slotraft.local_cluster import free_port
from tests.router.support import RouterThread


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertPaths:
    return make_certificates(tmp_path_factory.mktemp("certs"))


def tls_settings(certs: CertPaths, **extra: str) -> tuple[tuple[str, str], ...]:
    values = {
        "tls-port": str(free_port()),
        "tls-cert-file": str(certs.cert("server")),
        "tls-key-file": str(certs.key("server")),
        "tls-ca-cert-file": str(certs.ca),
        **extra,
    }
    return tuple(sorted(values.items()))


@pytest.fixture(scope="module")
def router(certs: CertPaths) -> Iterator[RouterThread]:
    with RouterThread(shards=2, tls=tls_settings(certs)) as running:
        yield running


def tls_port(router: RouterThread) -> int:
    return int(dict(router.ctx.config.tls)["tls-port"])


def tls_client(router: RouterThread, certs: CertPaths, cert: bool = True, **extra: Any):
    options: dict[str, Any] = {"ssl_ca_certs": str(certs.ca), "ssl_cert_reqs": "required"}
    if cert:
        options |= {
            "ssl_certfile": str(certs.cert("client")),
            "ssl_keyfile": str(certs.key("client")),
        }
    return redis.Redis(port=tls_port(router), ssl=True, socket_timeout=5, **options, **extra)


def redis_cli(port: int, certs: CertPaths, *args: str) -> subprocess.CompletedProcess:
    tls = ["--tls", "--cacert", str(certs.ca)]
    tls += ["--cert", str(certs.cert("client")), "--key", str(certs.key("client"))]
    return subprocess.run(
        ["redis-cli", "-p", str(port), *tls, *args], capture_output=True, text=True, timeout=10
    )


def test_redis_cli_over_tls(router: RouterThread, certs: CertPaths) -> None:
    assert redis_cli(tls_port(router), certs, "SET", "cli:k", "v").stdout.strip() == "OK"
    assert redis_cli(tls_port(router), certs, "GET", "cli:k").stdout.strip() == "v"
    # The plaintext port serves the same data.
    with redis.Redis(port=router.port) as plain:
        assert plain.get("cli:k") == b"v"


def test_redis_py_over_tls(router: RouterThread, certs: CertPaths) -> None:
    with tls_client(router, certs) as client:
        assert client.set("py:k", "v") and client.get("py:k") == b"v"
        assert client.config_get("tls-*")["tls-port"] == str(tls_port(router))
        assert client.config_get("tls-auth-clients") == {"tls-auth-clients": "yes"}
        assert client.config_get("tls-ca-cert-file") == {"tls-ca-cert-file": str(certs.ca)}
        info = client.client_info()
        assert info["laddr"].endswith(f":{tls_port(router)}")


def test_a_plaintext_client_on_the_tls_port_is_disconnected(router: RouterThread) -> None:
    with socket.create_connection(("127.0.0.1", tls_port(router)), timeout=5) as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        received = b""
        try:
            while chunk := sock.recv(4096):
                received += chunk
        except ConnectionResetError:
            pass
    assert b"PONG" not in received  # the connection closed; at most a TLS alert came back
    assert not received or received[0] == 0x15  # TLS record type 21: alert


def served(port: int, certs: CertPaths, cert: CertPaths | None) -> bool:
    """Whether a TLS client (trusting the CA, presenting `cert`'s client certificate)
    gets PONG. Under TLSv1.3 a refused certificate shows at the first read, as an alert."""
    context = ssl.create_default_context(cafile=str(certs.ca))
    if cert is not None:
        context.load_cert_chain(cert.cert("client"), cert.key("client"))
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as sock,
        ):
            sock.sendall(b"PING\r\n")
            return sock.recv(100) == b"+PONG\r\n"
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return False


def test_a_client_certificate_is_required_by_default(
    router: RouterThread, certs: CertPaths, tmp_path: Path
) -> None:
    assert served(tls_port(router), certs, certs)
    assert not served(tls_port(router), certs, None)
    # One signed by another CA is refused as well.
    assert not served(tls_port(router), certs, make_certificates(tmp_path / "other"))


@pytest.mark.parametrize("auth_clients", ["no", "optional"])
def test_auth_clients_no_and_optional_serve_clients_without_certificate(
    certs: CertPaths, auth_clients: str
) -> None:
    with RouterThread(shards=1, tls=tls_settings(certs, **{"tls-auth-clients": auth_clients})) as r:
        assert served(tls_port(r), certs, None)
        assert served(tls_port(r), certs, certs)  # a certificate is still welcome


def _handshake(port: int, certs: CertPaths, context: ssl.SSLContext) -> str:
    """The TLS version agreed with the router on `port`, presenting the client cert."""
    context.load_cert_chain(certs.cert("client"), certs.key("client"))
    context.load_verify_locations(cafile=str(certs.ca))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as sock,
    ):
        sock.sendall(b"PING\r\n")
        assert sock.recv(100) == b"+PONG\r\n"
        cipher = sock.cipher()
        assert cipher is not None
        return f"{sock.version()} {cipher[0]}"


def test_tls_protocols_and_ciphersuites_are_enforced(certs: CertPaths) -> None:
    settings = tls_settings(
        certs, **{"tls-protocols": "TLSv1.3", "tls-ciphersuites": "TLS_CHACHA20_POLY1305_SHA256"}
    )
    with RouterThread(shards=1, tls=settings) as r:
        port = int(dict(settings)["tls-port"])
        context = ssl.create_default_context()
        assert _handshake(port, certs, context) == "TLSv1.3 TLS_CHACHA20_POLY1305_SHA256"
        only_12 = ssl.create_default_context()
        only_12.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises(ssl.SSLError):
            _handshake(port, certs, only_12)
        other_suite = ssl.create_default_context()
        _set_ciphersuites(other_suite, "TLS_AES_256_GCM_SHA384")
        with pytest.raises(ssl.SSLError):
            _handshake(port, certs, other_suite)
        assert r.ctx.config.tls  # the router went on serving
        with tls_client(r, certs) as client:
            assert client.ping()


def test_bad_settings_are_refused(certs: CertPaths, tmp_path: Path) -> None:
    files = TlsFiles(certs.cert("server"), certs.key("server"), certs.ca)
    with pytest.raises(TlsError, match="tls-protocols"):
        TlsFiles(files.cert_file, files.key_file, files.ca_cert_file, "TLSv1.1 TLSv1.3")._context(
            ssl.Purpose.CLIENT_AUTH
        )
    with pytest.raises(TlsError, match="tls-protocols"):
        TlsFiles(files.cert_file, files.key_file, None, "SSLv3").server_context("no")
    with pytest.raises(TlsError, match="tls-ciphersuites"):
        TlsFiles(files.cert_file, files.key_file, None, "", "", "NOPE").server_context("no")
    with pytest.raises(TlsError, match="needs tls-ca-cert-file"):
        TlsFiles(files.cert_file, files.key_file).server_context("yes")
    with pytest.raises(TlsError, match="cannot load the certificate"):
        TlsFiles(tmp_path / "missing.crt", files.key_file).server_context("no")


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    router_main.add_arguments(parser)
    return parser.parse_args(["--nodes", "127.0.0.1:1", *argv])


def test_options_from_flags_and_config_file(certs: CertPaths, tmp_path: Path) -> None:
    conf = tmp_path / "router.conf"
    conf.write_text(
        f"tls-port 7100\ntls-cert-file {certs.cert('server')}\n"
        f"tls-key-file {certs.key('server')}\ntls-ca-cert-file {certs.ca}\n"
        'tls-protocols "TLSv1.2 TLSv1.3"\ntls-auth-clients optional\n'
    )
    config = router_main.config_from(parse("--config", str(conf), "--tls-port", "7200"))
    values = dict(config.tls)
    assert values["tls-port"] == "7200"  # the flag wins over the file
    assert values["tls-auth-clients"] == "optional"
    assert values["tls-protocols"] == "TLSv1.2 TLSv1.3"
    conf.write_text("tls-auth-clients maybe\n")
    with pytest.raises(SystemExit, match="tls-auth-clients"):
        router_main.config_from(parse("--config", str(conf)))
    missing = ("--tls-cert-file", "/nonexistent", "--tls-key-file", str(certs.key("server")))
    with pytest.raises(SystemExit, match="cannot load the certificate"):
        router_main.config_from(parse("--tls-port", "7000", *missing))

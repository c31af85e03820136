"""`slotraft certs`: a cluster CA and the certificates a cluster and its clients need, for
local trials (`slotraft up --tls`) and the compose deployment (deploy/make-certs.sh).

Files written in the directory (keys mode 600; existing files are kept, so a restart
reuses them):

- `ca.crt`, `ca.key`: the cluster CA, which signs everything below;
- `node.crt`, `node.key`: what nodes, routers and `slotraft ctl` present to each other
  (mutual TLS between the cluster's processes: --tls-cluster yes);
- `server.crt`, `server.key`: the routers' client-facing certificate (--tls-cert-file),
  for the names given (--name, default localhost and 127.0.0.1);
- `client.crt`, `client.key`: a client certificate for redis-cli / redis-py when the
  routers require one (tls-auth-clients yes, Redis's default).

For production, use your own CA and keep its key off the cluster's machines.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from proto.tls import TlsFiles

DEFAULT_NAMES = ("localhost", "127.0.0.1")
VALID_DAYS = 825  # the longest validity clients such as macOS accept for a leaf


@dataclass(frozen=True, slots=True)
class CertPaths:
    directory: Path

    def cert(self, name: str) -> Path:
        return self.directory / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.directory / f"{name}.key"

    @property
    def ca(self) -> Path:
        return self.cert("ca")


def _write(path: Path, data: bytes, mode: int) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)


def _subject(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "slotraft"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _alt_names(names: tuple[str, ...]) -> x509.SubjectAlternativeName:
    general: list[x509.GeneralName] = []
    for name in names:
        try:
            general.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            general.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(general)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _save(
    paths: CertPaths, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> None:
    _write(
        paths.key(name),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        0o600,
    )
    _write(paths.cert(name), cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _load(paths: CertPaths, name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate(paths.cert(name).read_bytes())
    key = serialization.load_pem_private_key(paths.key(name).read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return cert, key


def _make_ca(paths: CertPaths, now: datetime.datetime) -> None:
    key = _new_key()
    name = _subject("slotraft cluster CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    _save(paths, "ca", cert, key)


def _issue(paths: CertPaths, name: str, names: tuple[str, ...], server: bool, client: bool) -> None:
    ca_cert, ca_key = _load(paths, "ca")
    now = datetime.datetime.now(datetime.UTC)
    key = _new_key()
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + (
        [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(_subject(f"slotraft {name}"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    if names:
        builder = builder.add_extension(_alt_names(names), critical=False)
    _save(paths, name, builder.sign(ca_key, hashes.SHA256()), key)


def make_certificates(directory: Path, names: tuple[str, ...] = DEFAULT_NAMES) -> CertPaths:
    """The CA and the node, server and client certificates in `directory`; files that
    exist already are kept."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    paths = CertPaths(directory)
    if not (paths.ca.exists() and paths.key("ca").exists()):
        _make_ca(paths, datetime.datetime.now(datetime.UTC))
    wanted = {
        "node": (names, True, True),
        "server": (names, True, False),
        "client": ((), False, True),
    }
    for name, (alt, server, client) in wanted.items():
        if not (paths.cert(name).exists() and paths.key(name).exists()):
            _issue(paths, name, alt, server, client)
    return paths


def tls_of_dir(directory: Path) -> ssl.SSLContext | None:
    """What a tool connects to the nodes of a cluster whose certificates `directory` holds
    (made by `make_certificates`): its node certificate and the CA. None without them."""
    paths = CertPaths(directory)
    if not paths.ca.exists():
        return None
    return TlsFiles(paths.cert("node"), paths.key("node"), paths.ca).client_context()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, required=True, help="where to write the files")
    parser.add_argument(
        "--name",
        action="append",
        default=None,
        help="a host name or address clients and nodes use (repeat; default: localhost and "
        "127.0.0.1)",
    )


def run(args: argparse.Namespace) -> int:
    names = tuple(args.name) if args.name else DEFAULT_NAMES
    paths = make_certificates(args.dir, names)
    print(f"CA, node, server and client certificates in {paths.directory}")
    return 0

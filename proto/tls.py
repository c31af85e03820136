"""TLS contexts from Redis's tls-* settings: the router's client port, and mutual TLS with
the cluster CA on every connection to a node (Raft, Kv, relayed gRPC).

Redis's names and values: tls-auth-clients yes|no|optional, tls-protocols "TLSv1.2 TLSv1.3"
(the default when empty), tls-ciphers (TLSv1.2 and older, OpenSSL's cipher list) and
tls-ciphersuites (TLSv1.3, OpenSSL's colon-separated suite names).

Between the processes of a cluster both ends present a certificate signed by the cluster
CA and check the other's. Host names are not checked: the CA only signs the cluster's own
processes, and which node a connection belongs to is proved by the handshake that follows
(proto/handshake.py, the cluster secret), which keeps working with or without TLS.
"""

from __future__ import annotations

import argparse
import ctypes
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from proto.redis_config import ConfigError, canonical, lookup

AUTH_CLIENTS = {"yes": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "no": ssl.CERT_NONE}
_PROTOCOLS = {
    "tlsv1": ssl.TLSVersion.TLSv1,
    "tlsv1.1": ssl.TLSVersion.TLSv1_1,
    "tlsv1.2": ssl.TLSVersion.TLSv1_2,
    "tlsv1.3": ssl.TLSVersion.TLSv1_3,
}
DEFAULT_PROTOCOLS = "TLSv1.2 TLSv1.3"  # Redis's, when tls-protocols is not set


class TlsError(ValueError):
    """Settings that cannot make a TLS context: the message names the setting."""


def protocol_range(protocols: str) -> tuple[ssl.TLSVersion, ssl.TLSVersion]:
    """The lowest and highest version of a tls-protocols value. Redis enables exactly the
    versions named; OpenSSL takes a range, so a gap (TLSv1.1 TLSv1.3) is refused rather
    than silently enabling TLSv1.2 as well."""
    words = (protocols or DEFAULT_PROTOCOLS).split()
    versions = []
    for word in words:
        version = _PROTOCOLS.get(word.lower())
        if version is None:
            raise TlsError(f"tls-protocols: invalid protocol '{word}'")
        versions.append(version)
    order = list(_PROTOCOLS.values())
    indexes = sorted({order.index(version) for version in versions})
    if indexes != list(range(indexes[0], indexes[-1] + 1)):
        raise TlsError(f"tls-protocols: '{protocols}' leaves a gap between versions")
    return order[indexes[0]], order[indexes[-1]]


def _set_ciphersuites(context: ssl.SSLContext, suites: str) -> None:
    """TLSv1.3 suites (tls-ciphersuites). Python's ssl module sets only the TLSv1.2 list
    (set_ciphers), so this calls OpenSSL's SSL_CTX_set_ciphersuites on the context's own
    SSL_CTX, found in the _ssl extension's PySSLContext (its first field after the object
    header, in every CPython 3)."""
    import _ssl

    library = ctypes.CDLL(_ssl.__file__)
    function = library.SSL_CTX_set_ciphersuites
    function.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    function.restype = ctypes.c_int
    pointer = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
    if not pointer or function(pointer, suites.encode()) != 1:
        raise TlsError(f"tls-ciphersuites: no usable suite in '{suites}'")
    # What the context now offers for TLSv1.3 must be what was asked (else the layout
    # assumed above does not hold, and nothing may be trusted to be enforced).
    offered = {c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.3"}
    if not offered or not offered <= set(suites.split(":")):
        raise TlsError(f"tls-ciphersuites: '{suites}' could not be applied")


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A certificate, its key and the CA that signs the peers' certificates, with Redis's
    protocol and cipher settings."""

    cert_file: Path
    key_file: Path
    ca_cert_file: Path | None = None
    protocols: str = ""
    ciphers: str = ""
    ciphersuites: str = ""

    def _context(self, purpose: ssl.Purpose) -> ssl.SSLContext:
        context = ssl.create_default_context(purpose)
        context.minimum_version, context.maximum_version = protocol_range(self.protocols)
        try:
            context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as error:
            raise TlsError(
                f"cannot load the certificate {self.cert_file} with key {self.key_file}: {error}"
            ) from None
        if self.ca_cert_file is not None:
            try:
                context.load_verify_locations(cafile=str(self.ca_cert_file))
            except (OSError, ssl.SSLError) as error:
                raise TlsError(f"cannot load the CA {self.ca_cert_file}: {error}") from None
        if self.ciphers:
            try:
                context.set_ciphers(self.ciphers)
            except ssl.SSLError:
                raise TlsError(f"tls-ciphers: no usable cipher in '{self.ciphers}'") from None
        if self.ciphersuites:
            _set_ciphersuites(context, self.ciphersuites)
        return context

    def server_context(self, auth_clients: str = "yes") -> ssl.SSLContext:
        """For a listening port: clients' certificates required, optional or ignored
        (tls-auth-clients), checked against the CA."""
        if auth_clients not in AUTH_CLIENTS:
            raise TlsError("tls-auth-clients must be one of yes, no, optional")
        context = self._context(ssl.Purpose.CLIENT_AUTH)
        context.verify_mode = AUTH_CLIENTS[auth_clients]
        if context.verify_mode != ssl.CERT_NONE and self.ca_cert_file is None:
            raise TlsError("tls-auth-clients yes|optional needs tls-ca-cert-file")
        return context

    def client_context(self) -> ssl.SSLContext:
        """For connecting to a node: the node's certificate must chain to the CA; its
        name is not checked (see the module's docstring)."""
        if self.ca_cert_file is None:
            raise TlsError("TLS to the nodes needs tls-ca-cert-file")
        context = self._context(ssl.Purpose.SERVER_AUTH)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_REQUIRED
        return context


@dataclass(frozen=True, slots=True)
class ClusterTls:
    """Mutual TLS inside a cluster: what a node listens with, what any process connects to
    a node with."""

    server: ssl.SSLContext
    client: ssl.SSLContext


# The tls-* options every process takes (the router adds tls-port and tls-auth-clients).
FILE_OPTIONS = (
    "tls-cert-file",
    "tls-key-file",
    "tls-client-cert-file",
    "tls-client-key-file",
    "tls-ca-cert-file",
)
TEXT_OPTIONS = ("tls-protocols", "tls-ciphers", "tls-ciphersuites")


def add_tls_arguments(parser: argparse.ArgumentParser) -> None:
    """Redis's tls-* options for the cluster's own links. --tls-cluster yes: every
    connection to a node runs mutual TLS with the CA of --tls-ca-cert-file; a node then
    accepts nothing else. Outgoing connections present --tls-client-cert-file (default:
    --tls-cert-file), as Redis's."""
    parser.add_argument(
        "--tls-cluster",
        choices=["yes", "no"],
        default=None,
        help="mutual TLS on every link to a node (Raft, Kv, gRPC), with the cluster CA (no)",
    )
    for name in FILE_OPTIONS:
        parser.add_argument(f"--{name}", default=None, metavar="FILE")
    parser.add_argument(
        "--tls-protocols", default=None, help=f'TLS versions enabled ("{DEFAULT_PROTOCOLS}")'
    )
    parser.add_argument("--tls-ciphers", default=None, help="TLSv1.2 ciphers (OpenSSL's list)")
    parser.add_argument(
        "--tls-ciphersuites", default=None, help="TLSv1.3 suites (OpenSSL's, colon-separated)"
    )


def tls_values(args: argparse.Namespace, from_file: Mapping[str, str]) -> dict[str, str]:
    """The tls-* settings: the flags given, else the --config file's."""
    values = {name: value for name, value in from_file.items() if name.startswith("tls-")}
    for name, value in vars(args).items():
        option = name.replace("_", "-")
        parameter = lookup(option)
        if option.startswith("tls-") and value is not None and parameter is not None:
            try:
                values[option] = canonical(parameter, str(value))
            except ConfigError as error:
                raise TlsError(f"--{option}: {error}") from None
    return values


def files_of(values: Mapping[str, str], outgoing: bool = False) -> TlsFiles:
    """The certificate (for `outgoing` connections: tls-client-cert-file, else
    tls-cert-file), key, CA and protocol settings of tls-* `values`."""
    cert = values.get("tls-cert-file", "")
    key = values.get("tls-key-file", "")
    if outgoing and values.get("tls-client-cert-file"):
        cert = values["tls-client-cert-file"]
        key = values.get("tls-client-key-file", "")
    if not cert or not key:
        raise TlsError("TLS needs tls-cert-file and tls-key-file")
    ca = values.get("tls-ca-cert-file", "")
    return TlsFiles(
        Path(cert),
        Path(key),
        Path(ca) if ca else None,
        values.get("tls-protocols", ""),
        values.get("tls-ciphers", ""),
        values.get("tls-ciphersuites", ""),
    )


def cluster_tls(values: Mapping[str, str]) -> ClusterTls | None:
    """Mutual TLS between the cluster's processes when tls-cluster is yes, else None."""
    if values.get("tls-cluster", "no") != "yes":
        return None
    return ClusterTls(
        files_of(values).server_context("yes"), files_of(values, True).client_context()
    )

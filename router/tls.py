"""The router's TLS settings, with Redis's names: tls-port (clients over TLS; 0: none),
tls-cert-file, tls-key-file, tls-ca-cert-file, tls-auth-clients, tls-protocols,
tls-ciphers, tls-ciphersuites, and tls-cluster (mutual TLS to the nodes, presenting
tls-client-cert-file or else tls-cert-file). The contexts are built by proto/tls.py."""

from __future__ import annotations

import ssl

from proto.tls import cluster_tls, files_of
from router.config import RouterConfig

# The tls-* parameters the router runs with (CONFIG GET shows them; the others keep
# Redis's defaults).
ROUTER_TLS_PARAMETERS = (
    "tls-port",
    "tls-cert-file",
    "tls-key-file",
    "tls-client-cert-file",
    "tls-client-key-file",
    "tls-ca-cert-file",
    "tls-auth-clients",
    "tls-protocols",
    "tls-ciphers",
    "tls-ciphersuites",
    "tls-cluster",
)


def tls_port(config: RouterConfig) -> int:
    return int(dict(config.tls).get("tls-port", "0"))


def announced_tls_port(config: RouterConfig) -> int:
    """The TLS port clients reach this router at (0: none)."""
    port = tls_port(config)
    return (config.announce_tls_port or port) if port else 0


def client_context(config: RouterConfig) -> ssl.SSLContext | None:
    """The TLS context of the clients' TLS port, or None without tls-port (TlsError when
    the files or settings cannot make one)."""
    values = dict(config.tls)
    if tls_port(config) == 0:
        return None
    return files_of(values).server_context(values.get("tls-auth-clients", "yes"))


def node_context(config: RouterConfig) -> ssl.SSLContext | None:
    """What the router connects to the nodes with when tls-cluster is yes."""
    tls = cluster_tls(dict(config.tls))
    return tls.client if tls is not None else None

"""The cluster secret: where it comes from, and the credentials built from it.

Every connection to a node starts with a proof of the cluster secret (proto/handshake.py).
The secret is read from a file (`--cluster-secret-file`, or the environment variable
SLOTRAFT_CLUSTER_SECRET_FILE) or from SLOTRAFT_CLUSTER_SECRET itself, never from a command
line: every local user can read /proc/PID/cmdline, only the process's own user its
environment. `slotraft up` creates the file in its data directory, readable by its owner
only; the compose deployment passes the variable from deploy/.env.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import ssl
import stat
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from proto.handshake import SECRET_MIN_BYTES, Peer, derive_key

SECRET_ENV = "SLOTRAFT_CLUSTER_SECRET"
SECRET_FILE_ENV = "SLOTRAFT_CLUSTER_SECRET_FILE"
CLUSTER_ID_ENV = "SLOTRAFT_CLUSTER_ID"
SECRET_FILE_NAME = "cluster.secret"  # in `slotraft up`'s data directory


class SecretError(Exception):
    """No usable cluster secret: the message says what to do."""


def generate_secret() -> str:
    return secrets.token_hex(32)


def create_secret_file(path: Path) -> None:
    """A new secret in `path`, readable by its owner only (fails if the file exists)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(generate_secret() + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_secret_file(path: Path) -> bytes:
    try:
        info = path.stat()
        text = path.read_text().strip()
    except OSError as error:
        raise SecretError(f"cannot read the cluster secret file {path}: {error}") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretError(
            f"the cluster secret file {path} is readable by other users "
            f"(mode {stat.S_IMODE(info.st_mode):o}): chmod 600 {path}"
        )
    return _checked(text, str(path))


def _checked(text: str, source: str) -> bytes:
    if len(text) < SECRET_MIN_BYTES:
        raise SecretError(
            f"the cluster secret from {source} is shorter than {SECRET_MIN_BYTES} characters"
        )
    return text.encode()


def load_secret(file: Path | None = None, environ: Mapping[str, str] | None = None) -> bytes:
    """The cluster secret: from `file`, else SLOTRAFT_CLUSTER_SECRET_FILE, else
    SLOTRAFT_CLUSTER_SECRET."""
    environ = os.environ if environ is None else environ
    if file is None and environ.get(SECRET_FILE_ENV):
        file = Path(environ[SECRET_FILE_ENV])
    if file is not None:
        return read_secret_file(file)
    text = environ.get(SECRET_ENV, "").strip()
    if text:
        return _checked(text, SECRET_ENV)
    raise SecretError(
        "no cluster secret: pass --cluster-secret-file FILE, or set "
        f"{SECRET_FILE_ENV} or {SECRET_ENV} (`slotraft up` keeps one in "
        f"<data-dir>/{SECRET_FILE_NAME})"
    )


def cluster_id_from_secret(secret: bytes) -> str:
    """The cluster id when none is configured: two clusters with different secrets differ."""
    return hashlib.sha256(b"slotraft cluster id\0" + secret).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Credentials:
    """What one process presents when it connects to a node: the handshake key, what it
    says of itself and, when the cluster runs mutual TLS (proto/tls.py), the TLS context
    its connections to nodes use (None: plain TCP)."""

    key: bytes
    me: Peer
    tls: ssl.SSLContext | None = None

    @classmethod
    def from_secret(cls, secret: bytes, me: Peer, tls: ssl.SSLContext | None = None) -> Credentials:
        return cls(derive_key(secret), me, tls)

    def for_cluster(self, cluster_id: str) -> Credentials:
        return replace(self, me=replace(self.me, cluster_id=cluster_id))

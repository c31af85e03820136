"""The handshake that opens every connection to a node: mutual proof of the cluster secret,
then who is calling and on which channel. Sans-IO: `ServerHandshake` and `ClientHandshake`
take bytes and say what to send and when it is done; node/listener.py and
proto/framing.py `connect` move the bytes.

    client -> server  PREAMBLE_HANDSHAKE, client nonce (16)
    server -> client  server nonce (16)
    client -> server  MAC (32), hello length (2), Hello, channel (6)
    server -> client  MAC (32), hello length (2), Hello      (refusal set: then closed)

The client's MAC covers both nonces, its Hello and the channel under the key "client"; the
server's covers both nonces and its Hello under "server", so neither proof can be replayed
on another connection or reflected back. The server sends nothing but its nonce until the
client has proved the secret, and closes the connection at the first byte that does not
fit: an unauthenticated peer costs at most `MAX_HANDSHAKE_BYTES` of memory and learns
nothing. After the handshake the bytes are the channel's (framed Raft or Kv, or gRPC).

This authenticates; it does not encrypt or protect later bytes from a peer on the path
(TLS does that, for deployments that need it).

Besides the proof, both Hellos carry what must agree between the two ends: the cluster id,
the node id the client expects at this address, and the shape of the cluster (shards,
replicas per shard, slot count). The server refuses a client whose Hello disagrees and says
why in its own Hello; the client checks the server's Hello the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from proto import slotraft_pb2 as pb

PREAMBLE_HANDSHAKE = b"SRF2HS"
CHANNEL_RAFT = b"SRF1RA"  # node -> node: RaftBatch frames
CHANNEL_KV = b"SRF1KV"  # router -> node: KvBatch frames, and KvReplyBatch frames back
CHANNEL_GRPC = b"SRF1GR"  # the node's gRPC services (Admin, pub/sub), relayed
CHANNELS = frozenset({CHANNEL_RAFT, CHANNEL_KV, CHANNEL_GRPC})
PROTOCOL_VERSION = 1
NONCE_BYTES = 16
MAC_BYTES = 32
MAX_HELLO_BYTES = 1024
_LENGTH_BYTES = 2
MAX_HANDSHAKE_BYTES = len(PREAMBLE_HANDSHAKE) + NONCE_BYTES + MAC_BYTES + 2 + MAX_HELLO_BYTES + 6
HANDSHAKE_TIMEOUT_S = 5.0
SECRET_MIN_BYTES = 16

ROLE_NODE = "node"
ROLE_ROUTER = "router"
ROLE_TOOL = "tool"


class HandshakeError(Exception):
    """The handshake failed: the connection is closed. `reason` is for the log."""


class Refused(HandshakeError):
    """The other end proved the secret but refuses this link (another cluster, a mismatched
    setting): the message says what differs."""


@dataclass(frozen=True, slots=True)
class Peer:
    """What one end says of itself in its Hello."""

    cluster_id: str
    node_id: int = 0  # 0: not a node (a router or a tool)
    role: str = ROLE_TOOL
    shards: int = 0  # 0: does not know or care (routers, tools)
    replicas: int = 0
    slots: int = 0
    address: str = ""  # a node's HOST:PORT (a joining node learns its peers from it)

    def hello(self, expect_node: int = 0, refusal: str = "") -> pb.Hello:
        return pb.Hello(
            version=PROTOCOL_VERSION,
            cluster_id=self.cluster_id,
            node_id=self.node_id,
            role=self.role,
            shards=self.shards,
            replicas=self.replicas,
            slots=self.slots,
            expect_node=expect_node,
            refusal=refusal,
            address=self.address,
        )


def disagreement(me: Peer, hello: pb.Hello, expect_node: int = 0) -> str:
    """Why `hello` cannot be a peer of `me` ("" when it can). `expect_node`: the node id the
    caller expects at that address (0: any)."""
    if hello.version != PROTOCOL_VERSION:
        return f"protocol version {hello.version}, expected {PROTOCOL_VERSION}"
    if me.cluster_id and hello.cluster_id and hello.cluster_id != me.cluster_id:
        return f"cluster id {hello.cluster_id!r}, expected {me.cluster_id!r} (another cluster?)"
    if expect_node and hello.node_id != expect_node:
        return f"node {hello.node_id} answers where node {expect_node} was expected"
    for name in ("shards", "replicas", "slots"):
        mine, theirs = getattr(me, name), getattr(hello, name)
        if mine and theirs and mine != theirs:
            return f"{name} = {theirs}, here {name} = {mine}: the cluster descriptions differ"
    return ""


def derive_key(secret: bytes) -> bytes:
    """The handshake key: the secret is used for nothing else directly."""
    return hmac.new(secret, b"slotraft handshake v1", hashlib.sha256).digest()


def _mac(key: bytes, label: bytes, *parts: bytes) -> bytes:
    mac = hmac.new(key, label, hashlib.sha256)
    for part in parts:
        mac.update(len(part).to_bytes(4, "big"))
        mac.update(part)
    return mac.digest()


def _hello_bytes(hello: pb.Hello) -> bytes:
    data = hello.SerializeToString()
    if len(data) > MAX_HELLO_BYTES:
        raise ValueError("hello too large")
    return len(data).to_bytes(_LENGTH_BYTES, "big") + data


def _parse_hello(data: bytes) -> pb.Hello:
    try:
        return pb.Hello.FromString(data)
    except Exception as error:  # protobuf's DecodeError and friends
        raise HandshakeError(f"malformed hello: {error}") from None


@dataclass(slots=True)
class Accepted:
    """The server side's outcome: the client proved the secret and agrees."""

    channel: bytes
    hello: pb.Hello
    reply: bytes  # to send before the channel's own bytes
    rest: bytes  # bytes that arrived after the handshake: the channel's


class ServerHandshake:
    """The node's side. Feed it what arrives; it answers bytes to send, raises
    HandshakeError (close the connection, send nothing) or, once, returns Accepted. A
    refused client gets a signed refusal (`refusal_reply`) before the close."""

    def __init__(
        self,
        key: bytes,
        me: Peer,
        nodes: frozenset[int] = frozenset(),
        nonce: bytes | None = None,
    ) -> None:
        self.key = key
        self.me = me
        self.nodes = nodes  # the cluster's node ids; a calling node must be one of them
        self.nonce = nonce or secrets.token_bytes(NONCE_BYTES)
        self.buffer = b""
        self.client_nonce: bytes | None = None
        self.refusal_reply = b""

    def feed(self, data: bytes) -> bytes | Accepted:
        """Bytes to send now (possibly none), or the outcome."""
        self.buffer += data
        if len(self.buffer) > MAX_HANDSHAKE_BYTES and self.client_nonce is None:
            raise HandshakeError("too many bytes before the handshake")
        if self.client_nonce is None:
            head = len(PREAMBLE_HANDSHAKE) + NONCE_BYTES
            if len(self.buffer) < len(PREAMBLE_HANDSHAKE):
                if not PREAMBLE_HANDSHAKE.startswith(self.buffer):
                    raise HandshakeError("not a slotraft handshake")
                return b""
            if not self.buffer.startswith(PREAMBLE_HANDSHAKE):
                raise HandshakeError("not a slotraft handshake")
            if len(self.buffer) < head:
                return b""
            self.client_nonce = self.buffer[len(PREAMBLE_HANDSHAKE) : head]
            self.buffer = self.buffer[head:]
            outcome = self._proof_step()
            if isinstance(outcome, Accepted):
                # Proved before our nonce was sent (the client knew it): it still goes first.
                outcome.reply = self.nonce + outcome.reply
                return outcome
            return self.nonce + outcome
        return self._proof_step()

    def _proof_step(self) -> bytes | Accepted:
        buffer = self.buffer
        fixed = MAC_BYTES + _LENGTH_BYTES
        if len(buffer) < fixed:
            if len(buffer) > MAX_HANDSHAKE_BYTES:
                raise HandshakeError("too many bytes before the handshake")
            return b""
        size = int.from_bytes(buffer[MAC_BYTES:fixed], "big")
        if size > MAX_HELLO_BYTES:
            raise HandshakeError(f"hello of {size} bytes is over the limit")
        end = fixed + size + len(CHANNEL_RAFT)
        if len(buffer) < end:
            return b""
        mac = buffer[:MAC_BYTES]
        hello_data = buffer[fixed : fixed + size]
        channel = buffer[fixed + size : end]
        assert self.client_nonce is not None
        expected = _mac(self.key, b"client", self.client_nonce, self.nonce, channel, hello_data)
        if not hmac.compare_digest(mac, expected):
            raise HandshakeError("the peer does not know the cluster secret")
        if channel not in CHANNELS:
            raise HandshakeError(f"unknown channel {channel!r}")
        hello = _parse_hello(hello_data)
        problem = disagreement(self.me, hello)
        if not problem and hello.expect_node and hello.expect_node != self.me.node_id:
            problem = f"this is node {self.me.node_id}, not node {hello.expect_node}"
        calling_node = hello.role == ROLE_NODE
        if not problem and calling_node and self.nodes and hello.node_id not in self.nodes:
            problem = f"node {hello.node_id} is not a node of this cluster"
        if not problem and channel == CHANNEL_RAFT and not calling_node:
            problem = f"a {hello.role or 'peer'} may not open the Raft channel"
        if problem:
            self.refusal_reply = self._reply(self.me.hello(refusal=problem))
            raise Refused(problem)
        return Accepted(channel, hello, self._reply(self.me.hello()), buffer[end:])

    def _reply(self, hello: pb.Hello) -> bytes:
        assert self.client_nonce is not None
        data = _hello_bytes(hello)
        return _mac(self.key, b"server", self.client_nonce, self.nonce, data[2:]) + data


class ClientHandshake:
    """The caller's side: `start()` gives the first bytes; feed it what arrives until it
    returns the server's Hello (then the channel is open; `rest` holds early channel
    bytes). Raises HandshakeError, or Refused when the server (or this side) refuses."""

    def __init__(
        self,
        key: bytes,
        me: Peer,
        channel: bytes,
        expect_node: int = 0,
        nonce: bytes | None = None,
    ) -> None:
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}")
        self.key = key
        self.me = me
        self.channel = channel
        self.expect_node = expect_node
        self.nonce = nonce or secrets.token_bytes(NONCE_BYTES)
        self.server_nonce: bytes | None = None
        self.buffer = b""
        self.rest = b""

    def start(self) -> bytes:
        return PREAMBLE_HANDSHAKE + self.nonce

    def feed(self, data: bytes) -> bytes | pb.Hello:
        """Bytes to send now (possibly none), or the server's Hello once it is proved."""
        self.buffer += data
        if self.server_nonce is None:
            if len(self.buffer) < NONCE_BYTES:
                return b""
            self.server_nonce = self.buffer[:NONCE_BYTES]
            self.buffer = self.buffer[NONCE_BYTES:]
            hello = _hello_bytes(self.me.hello(expect_node=self.expect_node))
            mac = _mac(self.key, b"client", self.nonce, self.server_nonce, self.channel, hello[2:])
            return mac + hello + self.channel  # the server says nothing more before it
        return self._answer()

    def _answer(self) -> bytes | pb.Hello:
        buffer = self.buffer
        fixed = MAC_BYTES + _LENGTH_BYTES
        if len(buffer) < fixed:
            return b""
        size = int.from_bytes(buffer[MAC_BYTES:fixed], "big")
        if size > MAX_HELLO_BYTES:
            raise HandshakeError(f"hello of {size} bytes is over the limit")
        if len(buffer) < fixed + size:
            return b""
        hello_data = buffer[fixed : fixed + size]
        assert self.server_nonce is not None
        expected = _mac(self.key, b"server", self.nonce, self.server_nonce, hello_data)
        if not hmac.compare_digest(buffer[:MAC_BYTES], expected):
            raise HandshakeError("the node does not know the cluster secret")
        hello = _parse_hello(hello_data)
        if hello.refusal:
            raise Refused(f"the node refused the link: {hello.refusal}")
        problem = disagreement(self.me, hello, self.expect_node)
        if problem:
            raise Refused(f"refusing the node: {problem}")
        self.rest = buffer[fixed + size :]
        return hello

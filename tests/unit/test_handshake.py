"""The node handshake (proto/handshake.py), sans-IO: both ends prove the secret, a proof is
bound to its connection, the Hellos are checked, and a server says nothing but its nonce to a
peer that has not proved the secret."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proto import slotraft_pb2 as pb
from proto.handshake import (
    CHANNEL_GRPC,
    CHANNEL_KV,
    CHANNEL_RAFT,
    MAX_HANDSHAKE_BYTES,
    NONCE_BYTES,
    PREAMBLE_HANDSHAKE,
    ROLE_NODE,
    ROLE_ROUTER,
    Accepted,
    ClientHandshake,
    HandshakeError,
    Peer,
    Refused,
    ServerHandshake,
    derive_key,
)

KEY = derive_key(b"the cluster secret of these tests")
NODE_2 = Peer("c1", 2, ROLE_NODE, 3, 3, 16384)
NODE_1 = Peer("c1", 1, ROLE_NODE, 3, 3, 16384)
ROUTER = Peer("", 0, ROLE_ROUTER)


def run(client: ClientHandshake, server: ServerHandshake, split: int = 0):
    """Drive both ends to the end; `split` > 0 delivers bytes in pieces of that size."""
    to_server = client.start()
    outcome = None
    hello = None
    for _ in range(10):
        step = split or max(len(to_server), 1)
        pieces = [to_server[i : i + step] for i in range(0, len(to_server), step)]
        to_client = b""
        for piece in pieces or [b""]:
            answer = server.feed(piece)
            if isinstance(answer, Accepted):
                outcome = answer
                to_client += answer.reply
            else:
                to_client += answer
        to_server = b""
        if to_client:
            reply = client.feed(to_client)
            if isinstance(reply, pb.Hello):
                hello = reply
                break
            to_server = reply
    return outcome, hello


def opening(client: ClientHandshake, server: ServerHandshake) -> bytes:
    """The client's proof, its answer to the nonce the server sends to its first bytes."""
    nonce = server.feed(client.start())
    assert isinstance(nonce, bytes)
    proof = client.feed(nonce)
    assert isinstance(proof, bytes)
    return proof


@pytest.mark.parametrize("split", [0, 1, 7])
def test_both_ends_prove_the_secret_and_learn_each_other(split):
    client = ClientHandshake(KEY, NODE_1, CHANNEL_RAFT, expect_node=2)
    server = ServerHandshake(KEY, NODE_2, frozenset({1, 2, 3}))
    accepted, hello = run(client, server, split)
    assert accepted is not None and accepted.channel == CHANNEL_RAFT
    assert accepted.hello.node_id == 1 and accepted.hello.role == ROLE_NODE
    assert hello is not None and hello.node_id == 2 and hello.cluster_id == "c1"


def test_a_client_without_the_secret_gets_the_nonce_and_then_a_closed_connection():
    client = ClientHandshake(derive_key(b"a guess at the secret, wrong"), ROUTER, CHANNEL_KV)
    server = ServerHandshake(KEY, NODE_2)
    nonce = server.feed(client.start())
    assert isinstance(nonce, bytes) and len(nonce) == NONCE_BYTES
    proof = client.feed(nonce)
    assert isinstance(proof, bytes)
    with pytest.raises(HandshakeError, match="does not know the cluster secret"):
        server.feed(proof)
    assert server.refusal_reply == b""  # nothing is said to it


def test_a_server_without_the_secret_is_not_believed():
    client = ClientHandshake(KEY, ROUTER, CHANNEL_KV)
    impostor = ServerHandshake(derive_key(b"not the cluster's secret at all"), NODE_2)
    opening(client, impostor)  # the proof, which the impostor cannot check
    with pytest.raises(HandshakeError, match="node does not know the cluster secret"):
        client.feed(impostor._reply(NODE_2.hello()))


def test_a_recorded_proof_does_not_open_another_connection():
    client = ClientHandshake(KEY, ROUTER, CHANNEL_KV)
    first = ServerHandshake(KEY, NODE_2)
    recorded = client.start()
    proof = opening(client, first)  # its first bytes were `recorded`
    assert isinstance(first.feed(proof), Accepted)
    replay = ServerHandshake(KEY, NODE_2)  # a new connection: a new server nonce
    replay.feed(recorded)
    with pytest.raises(HandshakeError):
        replay.feed(proof)


def test_the_channel_is_covered_by_the_proof():
    client = ClientHandshake(KEY, ROUTER, CHANNEL_KV)
    server = ServerHandshake(KEY, NODE_2)
    proof = opening(client, server)
    tampered = proof[: -len(CHANNEL_GRPC)] + CHANNEL_GRPC
    with pytest.raises(HandshakeError):
        server.feed(tampered)


def test_another_cluster_is_refused_with_a_signed_reason_the_client_reads():
    client = ClientHandshake(KEY, Peer("c2", 1, ROLE_NODE), CHANNEL_RAFT)
    server = ServerHandshake(KEY, NODE_2)
    proof = opening(client, server)
    with pytest.raises(Refused, match="another cluster"):
        server.feed(proof)
    with pytest.raises(Refused, match="the node refused the link: cluster id 'c2'"):
        client.feed(server.refusal_reply)


@pytest.mark.parametrize(
    ("client_peer", "expect_node", "nodes", "reason"),
    [
        (Peer("c1", 1, ROLE_NODE, 4, 3, 16384), 0, frozenset(), "shards = 4"),
        (Peer("c1", 1, ROLE_NODE, 3, 5, 16384), 0, frozenset(), "replicas = 5"),
        (NODE_1, 3, frozenset(), "this is node 2, not node 3"),
        (Peer("c1", 9, ROLE_NODE, 3, 3, 16384), 0, frozenset({1, 2, 3}), "node 9 is not a node"),
    ],
)
def test_mismatched_settings_and_identities_are_refused(client_peer, expect_node, nodes, reason):
    client = ClientHandshake(KEY, client_peer, CHANNEL_RAFT, expect_node)
    server = ServerHandshake(KEY, NODE_2, nodes)
    proof = opening(client, server)
    with pytest.raises(Refused, match=reason):
        server.feed(proof)


def test_the_client_refuses_a_node_that_is_not_the_one_it_expected():
    # The server does not check (expect_node 0 in the Hello is "any"): the client does.
    client = ClientHandshake(KEY, ROUTER, CHANNEL_KV)
    client.expect_node = 0
    server = ServerHandshake(KEY, NODE_2)
    proof = opening(client, server)
    accepted = server.feed(proof)
    assert isinstance(accepted, Accepted)
    client.expect_node = 3
    with pytest.raises(Refused, match="node 2 answers where node 3 was expected"):
        client.feed(accepted.reply)


def test_bytes_after_the_handshake_belong_to_the_channel():
    client = ClientHandshake(KEY, ROUTER, CHANNEL_KV)
    server = ServerHandshake(KEY, NODE_2)
    proof = opening(client, server)
    accepted = server.feed(proof + b"early frame bytes")
    assert isinstance(accepted, Accepted) and accepted.rest == b"early frame bytes"
    hello = client.feed(accepted.reply + b"server bytes")
    assert isinstance(hello, pb.Hello) and client.rest == b"server bytes"


@pytest.mark.parametrize(
    "opening",
    [
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",  # plain gRPC
        b"*1\r\n$4\r\nPING\r\n",  # RESP
        b"SRF1RA" + bytes(4),  # the framing of old versions
        b"\x16\x03\x01\x02\x00",  # TLS ClientHello
    ],
)
def test_anything_but_the_handshake_is_refused_at_once(opening):
    server = ServerHandshake(KEY, NODE_2)
    with pytest.raises(HandshakeError, match="not a slotraft handshake"):
        for byte in opening:
            server.feed(bytes([byte]))


def test_an_oversized_hello_is_refused_before_it_is_read():
    server = ServerHandshake(KEY, NODE_2)
    server.feed(PREAMBLE_HANDSHAKE + bytes(NONCE_BYTES))
    with pytest.raises(HandshakeError, match="over the limit"):
        server.feed(bytes(32) + (60_000).to_bytes(2, "big"))


@settings(max_examples=300, deadline=None)
@given(st.booleans(), st.binary(max_size=MAX_HANDSHAKE_BYTES + 100), st.integers(1, 64))
def test_random_bytes_never_pass_and_raise_nothing_but_a_handshake_error(preamble, data, piece):
    server = ServerHandshake(KEY, NODE_2)
    stream = (PREAMBLE_HANDSHAKE + bytes(NONCE_BYTES) if preamble else b"") + data
    try:
        for start in range(0, len(stream), piece):
            assert not isinstance(server.feed(stream[start : start + piece]), Accepted)
    except HandshakeError:
        pass
    assert len(server.buffer) <= MAX_HANDSHAKE_BYTES + 64


def test_a_proof_in_the_first_bytes_is_accepted_with_the_nonce_before_the_reply():
    """A client that knew the server's nonce (here: chosen by the test) may send its proof
    with its own nonce: the server accepts, and its answer still starts with its nonce
    (it once raised TypeError adding its nonce to the Accepted)."""
    server_nonce = b"n" * NONCE_BYTES
    client = ClientHandshake(KEY, ROUTER, CHANNEL_KV)
    proof = client.feed(server_nonce)
    assert isinstance(proof, bytes)
    server = ServerHandshake(KEY, NODE_2, nonce=server_nonce)
    accepted = server.feed(client.start() + proof + b"early")
    assert isinstance(accepted, Accepted) and accepted.rest == b"early"
    assert accepted.reply.startswith(server_nonce)
    hello = client.feed(accepted.reply[NONCE_BYTES:])
    assert isinstance(hello, pb.Hello) and hello.node_id == 2

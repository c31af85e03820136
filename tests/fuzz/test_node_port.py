"""Fuzzing a node's port on a real cluster: random bytes from strangers, and random but
well-framed Raft batches, Kv batches and gRPC calls from peers that passed the handshake
(a buggy or compromised member). The invariants: no node stops, and afterwards the
cluster serves every shard again and its replicas catch up. FUZZ_EXAMPLES sets the number
of examples (default 120; the note of the hardening work gives a longer run)."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import cast

import grpc
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proto import framing
from proto import slotraft_pb2 as pb
from proto.acl import new_user, set_user
from proto.acl_check import MAX_CALLER_RULES, caller_rules
from proto.credentials import Credentials, read_secret_file
from proto.handshake import CHANNEL_KV, CHANNEL_RAFT, ROLE_NODE, ROLE_TOOL, HandshakeError, Peer
from proto.topology import place_shards
from tests.cluster.conftest import running_cluster

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "120"))
U64 = st.one_of(
    st.integers(0, 10),
    st.integers(0, 1 << 20),
    st.sampled_from([(1 << 31) - 1, (1 << 32) - 1, (1 << 63) - 1, 1 << 63, (1 << 64) - 1]),
    st.integers(0, (1 << 64) - 1),
)
SMALL = st.integers(0, 20)
ADMIN_METHODS = [
    "/slotraft.Admin/Status",
    "/slotraft.Admin/GetSlotMap",
    "/slotraft.Admin/TransferLeader",
    "/slotraft.Admin/Health",
    "/slotraft.Admin/Stats",
    "/slotraft.Kv/Publish",
]


@st.composite
def raft_messages(draw: st.DrawFn, sender: int) -> pb.RaftMessage:
    entries = [
        pb.RaftEntry(
            index=draw(U64), term=draw(U64), type=draw(SMALL), data=draw(st.binary(max_size=64))
        )
        for _ in range(draw(st.integers(0, 3)))
    ]
    return pb.RaftMessage(
        group=draw(st.one_of(st.integers(0, 4), st.integers(0, (1 << 32) - 1))),
        type=draw(st.integers(0, 12)),
        from_node=draw(st.sampled_from([sender, sender, 1, 7, (1 << 64) - 1])),
        to_node=draw(st.sampled_from([1, 1, 2, 0])),
        term=draw(U64),
        log_term=draw(U64),
        index=draw(U64),
        entries=entries,
        commit=draw(U64),
        reject=draw(st.booleans()),
        reject_hint=draw(U64),
        hint_term=draw(U64),
        snapshot_index=draw(U64),
        snapshot_term=draw(U64),
        snapshot_voters=draw(st.lists(U64, max_size=4)),
        snapshot_learners=draw(st.lists(U64, max_size=2)),
        chunk_offset=draw(U64),
        chunk_data=draw(st.binary(max_size=64)),
        chunk_done=draw(st.booleans()),
        flag=draw(st.booleans()),
        stamp=draw(U64),
        force=draw(st.booleans()),
    )


@st.composite
def raft_frames(draw: st.DrawFn) -> tuple[int, bytes]:
    sender = draw(st.sampled_from([2, 3]))
    if draw(st.integers(0, 9)) == 0:
        return sender, draw(st.binary(max_size=256))
    batch = pb.RaftBatch(
        from_node=sender,
        from_incarnation=draw(U64),
        from_state=draw(st.integers(0, 5)),  # type: ignore[arg-type]  # (unnamed values too)
        to_incarnation=draw(U64),
        messages=draw(st.lists(raft_messages(sender), max_size=4)),
    )
    return sender, batch.SerializeToString()


ARGS = st.lists(
    st.one_of(
        st.sampled_from([b"GET", b"SET", b"DEL", b"EVAL", b"INCR", b"MULTI", b"PING", b"k", b"1"]),
        st.binary(max_size=12),
    ),
    max_size=6,
)


# A script caller's rules (KvRequest.caller): none, readable ones, garbage.
CALLERS = st.one_of(
    st.just(b""),
    st.just(caller_rules(set_user(new_user(b"u"), [b"on", b"~k*", b"+@all", b"-del"]))),
    st.binary(max_size=64),
    st.just(b"[" * 5000),
)


@st.composite
def kv_frames(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=256))
    requests = []
    for _ in range(draw(st.integers(1, 3))):
        args = draw(ARGS)
        counts = draw(st.one_of(st.just([len(args)]), st.lists(st.integers(0, 8), max_size=3)))
        request = pb.KvRequest(
            id=draw(U64),
            shard=draw(st.integers(0, 5)),
            client_id=draw(U64),
            sequence=draw(st.integers(0, 3)),
            kind=draw(st.integers(0, 4)),  # type: ignore[arg-type]  # (unnamed values too)
            resp3=draw(st.booleans()),
            read_only=draw(st.booleans()),
            consistency=draw(st.integers(0, 3)),  # type: ignore[arg-type]  # (unnamed values too)
            caller=draw(CALLERS),
            # SELECT's databases, and past them (refused before the log)
            db=draw(st.one_of(st.integers(0, 15), st.integers(16, 2**32 - 1))),
        )
        request.args.extend(args)
        request.arg_counts.extend(counts)
        requests.append(request)
    return pb.KvBatch(requests=requests).SerializeToString()


class Attacker:
    """Connections to the cluster's nodes, reopened when a node closes one."""

    def __init__(self, cluster) -> None:
        self.cluster = cluster
        self.secret = read_secret_file(cluster.secret_file)
        self.cluster_id = cluster.description.cluster_id
        self.loop = asyncio.new_event_loop()
        self.streams: dict[tuple[int, bytes, int], framing.FrameProtocol] = {}
        self.replies: dict[int, pb.KvReply] = {}

    def address(self, node: int) -> str:
        return f"127.0.0.1:{self.cluster.node(node).port}"

    def credentials(self, node: int) -> Credentials:
        role = ROLE_NODE if node else ROLE_TOOL
        return Credentials.from_secret(self.secret, Peer(self.cluster_id, node, role, 3, 3, 16384))

    def send(self, channel: bytes, me: int, frame: bytes, target: int = 1) -> None:
        self.loop.run_until_complete(self._send(channel, me, frame, target))

    async def _send(self, channel: bytes, me: int, frame: bytes, target: int) -> None:
        key = (target, channel, me)
        stream = self.streams.get(key)
        if stream is None or stream.closed:
            try:
                stream = await framing.connect(
                    self.address(target),
                    channel,
                    self._received,
                    credentials=self.credentials(me),
                )
            except (OSError, TimeoutError, HandshakeError) as error:
                raise AssertionError(
                    f"node {target} stopped taking connections: {error!r}"
                ) from None
            self.streams[key] = stream
        stream.send(frame)
        await asyncio.sleep(0)

    def _received(self, frame: bytes) -> None:
        for reply in pb.KvReplyBatch.FromString(frame).replies:
            self.replies[reply.id] = reply

    def ask(self, node: int, request: pb.KvRequest) -> pb.KvReply:
        """A request on node `node`'s Kv channel, and its reply."""
        request.id = (1 << 62) + len(self.replies) + 1
        frame = pb.KvBatch(requests=[request]).SerializeToString()
        self.send(CHANNEL_KV, 0, frame, node)
        for _ in range(500):
            if request.id in self.replies:
                return self.replies.pop(request.id)
            self.loop.run_until_complete(asyncio.sleep(0.01))
        raise AssertionError(f"node {node} did not answer {request}")

    def raw(self, data: bytes) -> None:
        host, port = self.address(1).rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(data)

    def close(self) -> None:
        for stream in self.streams.values():
            stream.abort()
        self.loop.run_until_complete(asyncio.sleep(0.05))
        self.loop.close()


def replica_states(cluster, attacker: Attacker, keys: list[bytes]) -> dict[int, set]:
    """Per shard, the distinct (key count, digests of `keys`) its replicas hold, read from
    each replica itself (follower reads)."""
    states: dict[int, set] = {}
    for placement in place_shards(cluster.description):
        for node in placement.replicas:
            size = pb.KvRequest(shard=placement.id, read_only=True, consistency=pb.FOLLOWER)
            size.args.append(b"DBSIZE")
            size.arg_counts.append(1)
            digests = pb.KvRequest(shard=placement.id, kind=pb.DIGESTS, consistency=pb.FOLLOWER)
            digests.args.extend(keys)
            state = (
                tuple(attacker.ask(node, size).replies),
                tuple(attacker.ask(node, digests).replies),
            )
            states.setdefault(placement.id, set()).add(state)
    return states


def serves_again(cluster, prefix: str) -> None:
    client = redis.Redis(port=cluster.router_ports[0], socket_timeout=30)
    deadline = time.monotonic() + 90
    while True:
        try:
            for index in range(30):
                assert client.set(f"{prefix}:{index}", index)
            break
        except redis.RedisError:
            assert time.monotonic() < deadline, "the cluster does not serve after fuzzing"
            time.sleep(1)
    assert client.mget([f"{prefix}:{i}" for i in range(30)]) == [str(i).encode() for i in range(30)]


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
client_actions = st.one_of(
    st.tuples(st.just("raw"), st.binary(max_size=512)),
    st.tuples(st.just("kv"), kv_frames()),
    st.tuples(st.just("grpc"), st.tuples(st.sampled_from(ADMIN_METHODS), st.binary(max_size=64))),
)


def test_strangers_routers_and_tools_stop_no_node_and_leave_the_replicas_equal():
    """What a stranger, a router or a tool sends: whatever a client can make the nodes do
    goes through the log, so every replica must hold the same state afterwards."""
    with running_cluster() as cluster:
        attacker = Attacker(cluster)
        channel = cluster.admin().channel(attacker.address(1))

        @FUZZ_SETTINGS
        @given(action=client_actions)
        def poke(action: tuple) -> None:
            kind, payload = action
            if kind == "raw":
                attacker.raw(payload)
            elif kind == "kv":
                attacker.send(CHANNEL_KV, 0, payload)
            else:
                method, body = payload
                try:
                    channel.unary_unary(method)(body, timeout=5)  # raw bytes in and out
                except grpc.RpcError as error:
                    assert error.code() is not grpc.StatusCode.UNAVAILABLE, "node 1 is gone"
            assert not cluster.crashed(), [f"{p.role} {p.id}" for p in cluster.crashed()]

        try:
            poke()
            too_long = pb.KvRequest(shard=0, caller=b"x" * (MAX_CALLER_RULES + 1))
            too_long.args.extend([b"EVAL", b"return 1", b"0"])
            too_long.arg_counts.append(3)
            assert attacker.ask(1, too_long).status == pb.REJECTED
            no_such_db = pb.KvRequest(shard=0, db=16)
            no_such_db.args.extend([b"SET", b"k", b"v"])
            no_such_db.arg_counts.append(3)
            assert attacker.ask(1, no_such_db).status == pb.REJECTED
            serves_again(cluster, "after-fuzz")
            cluster.wait_until_caught_up(90)
            client = redis.Redis(port=cluster.router_ports[0], socket_timeout=30)
            keys = sorted(cast(list[bytes], client.keys("*")))  # (no decode_responses)
            states = replica_states(cluster, attacker, keys)
            assert all(len(held) == 1 for held in states.values()), states
        finally:
            attacker.close()
        assert not cluster.crashed()


def test_a_member_sending_random_raft_traffic_stops_no_node():
    """A peer that proved the secret and claims a node's id is trusted by Raft as that node:
    it can disturb elections or, by luck, append (Raft does not defend against a lying
    member; the secret keeps everyone else out). What must hold is that no message stops a
    node: each is validated, and a bad one dropped."""
    with running_cluster() as cluster:
        attacker = Attacker(cluster)

        @FUZZ_SETTINGS
        @given(frame=raft_frames())
        def poke(frame: tuple[int, bytes]) -> None:
            sender, data = frame
            attacker.send(CHANNEL_RAFT, sender, data)
            assert not cluster.crashed(), [f"{p.role} {p.id}" for p in cluster.crashed()]

        try:
            poke()
        finally:
            attacker.close()
        time.sleep(1)
        assert not cluster.crashed()
        assert len(cluster.status()) == 3  # every node still answers

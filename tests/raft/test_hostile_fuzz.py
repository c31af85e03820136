"""Random and mutated RaftBatch messages, interleaved with a 3-node group's own work.

Two properties:

- Through the node's real receive path (tests/raft/wire_cluster.py: RaftTransport._receive,
  the host's handler, MultiRaft.step), any frame at all (random bytes, random fields, real
  frames with bytes or fields changed) raises nothing, and no node's term leaves the range
  it can store and increment. A member that lies (a Byzantine node) can still break Raft's
  guarantees with well-formed messages; no validation can tell such lies from the truth, so
  this property is only about the node staying up.
- Through validation and step in the scenario harness (tests/raft/harness.py), what a
  network may do to real messages (repeat them, late and out of order) and what a peer may
  change that validation can tell (flags that force elections, terms of answers and vote
  requests, senders that are not members or not the leader, numbers out of range, entries
  out of order, acknowledgements of what was never sent) never breaks safety: at most one
  leader per term, and an entry once committed never changes on any replica. The mutations
  that validation must refuse are checked to be refused.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from node.raft import Role
from node.raft import messages as m
from node.raft.validate import MAX_TERM, MAX_TERM_JUMP
from node.raft_wire import add_to_batch, from_wire
from proto import slotraft_pb2 as pb
from tests.raft.harness import Cluster
from tests.raft.wire_cluster import GROUP, WireCluster

fuzz = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

U64 = (1 << 64) - 1
EDGES = [0, 1, 2, 3, 7, (1 << 31), (1 << 32) - 1, 1 << 32, (1 << 32) + 1, MAX_TERM, MAX_TERM + 1]
EDGES += [U64 - 1, U64]
uint64s = st.one_of(st.integers(0, 20), st.sampled_from(EDGES), st.integers(0, U64))
UINT64_FIELDS = [
    "from_node",
    "to_node",
    "term",
    "log_term",
    "index",
    "commit",
    "reject_hint",
    "hint_term",
    "snapshot_index",
    "snapshot_term",
    "chunk_offset",
    "stamp",
]
BOOL_FIELDS = ["reject", "chunk_done", "flag", "force"]

# ------------------------------------------------------------------ the receive path


def random_wire_message(draw: st.DrawFn) -> pb.RaftMessage:
    wire = pb.RaftMessage(
        type=draw(st.integers(0, 11)),
        group=draw(st.sampled_from([GROUP, GROUP, 0, 1, (1 << 32) - 1])),
        from_node=draw(st.integers(0, 4)),
        to_node=draw(st.integers(0, 4)),
    )
    for name in draw(st.lists(st.sampled_from(UINT64_FIELDS), max_size=6)):
        setattr(wire, name, draw(uint64s))
    for name in draw(st.lists(st.sampled_from(BOOL_FIELDS), max_size=3)):
        setattr(wire, name, True)
    for _ in range(draw(st.integers(0, 3))):
        wire.entries.add(
            index=draw(uint64s), term=draw(uint64s), type=draw(st.integers(0, 2)), data=b"x"
        )
    wire.snapshot_voters.extend(draw(st.lists(st.integers(0, 5), max_size=4)))
    wire.chunk_data = draw(st.binary(max_size=8))
    return wire


@st.composite
def hostile_frames(draw: st.DrawFn, real: list[tuple[int, bytes]]) -> tuple[int, bytes]:
    """(destination, frame): random bytes, a random batch, or a real frame changed."""
    kind = draw(st.sampled_from(["bytes", "batch", "flip", "fields", "fields"]))
    if kind == "bytes":
        return draw(st.integers(1, 3)), draw(st.binary(max_size=64))
    if kind == "batch":
        batch = pb.RaftBatch(from_node=draw(st.sampled_from([1, 2, 3, 0, 9])))
        for _ in range(draw(st.integers(0, 3))):
            batch.messages.append(random_wire_message(draw))
        return draw(st.integers(1, 3)), batch.SerializeToString()
    destination, data = draw(st.sampled_from(real))
    if kind == "flip":
        changed = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            position = draw(st.integers(0, len(changed) - 1))
            changed[position] = draw(st.integers(0, 255))
        return destination, bytes(changed)
    batch = pb.RaftBatch.FromString(data)
    if not batch.messages:
        return destination, data
    wire = batch.messages[draw(st.integers(0, len(batch.messages) - 1))]
    for name in draw(st.lists(st.sampled_from(UINT64_FIELDS), min_size=1, max_size=3)):
        setattr(wire, name, draw(uint64s))
    for name in draw(st.lists(st.sampled_from(BOOL_FIELDS), max_size=2)):
        setattr(wire, name, not getattr(wire, name))
    if len(wire.entries) > 0 and draw(st.booleans()):
        entry = wire.entries[draw(st.integers(0, len(wire.entries) - 1))]
        entry.index, entry.term = draw(uint64s), draw(uint64s)
        entry.type = draw(st.integers(0, 3))
        entry.data = draw(st.binary(max_size=12))
    return destination, batch.SerializeToString()


def claimed_sender(frame: bytes) -> int:
    """The node a frame names as its sender (the connection it arrives on is that node's:
    one naming another node closes the connection before validation, tested elsewhere)."""
    try:
        return pb.RaftBatch.FromString(frame).from_node
    except Exception:
        return 2


@fuzz
@given(st.data())
def test_no_frame_stops_a_node_or_leaves_a_term_it_cannot_store(data):
    cluster = WireCluster()
    leader = cluster.leader()
    leader.raft.propose(b"before")
    cluster.run(2)
    real = list(cluster.frames)
    for _ in range(data.draw(st.integers(1, 25), label="rounds")):
        destination, frame = data.draw(hostile_frames(real), label="frame")
        transport = cluster.nodes[destination].transport
        dropped = transport.rejected_batches
        transport._receive(frame, claimed_sender(frame))
        event("frame dropped" if transport.rejected_batches > dropped else "frame stepped")
        ticks = data.draw(st.integers(0, 3), label="ticks")
        for _ in range(ticks):
            for node in cluster.nodes.values():
                node.multi.tick()
        for _ in range(5):  # bounded: forged states need not settle
            cluster.cycle()
        for node in cluster.nodes.values():
            assert node.raft.term <= MAX_TERM
            if node.raft.role is Role.LEADER and data.draw(st.booleans(), label="propose"):
                node.raft.propose(b"during")
        real = real[-50:] + cluster.frames[-20:]


# ------------------------------------------------------------------ safety in the harness


class Safety:
    """What every replica committed, and who led each term, as seen so far."""

    def __init__(self) -> None:
        self.leaders: dict[int, int] = {}
        self.committed: dict[int, tuple[int, bytes]] = {}

    def check(self, cluster: Cluster) -> None:
        for node_id, node in cluster.nodes.items():
            if node.role is Role.LEADER:
                leader = self.leaders.setdefault(node.term, node_id)
                assert leader == node_id, f"nodes {leader} and {node_id} both lead {node.term}"
            log = node.log
            for entry in log.entries[: max(0, log.committed - log.offset)]:
                seen = self.committed.setdefault(entry.index, (entry.term, entry.data))
                assert seen == (entry.term, entry.data), f"committed {entry.index} changed"
            for entry in cluster.applied[node_id]:
                assert self.committed.get(entry.index, (entry.term, entry.data)) == (
                    entry.term,
                    entry.data,
                ), f"node {node_id} applied another entry {entry.index}"


def through_wire(message: m.Message) -> m.Message | None:
    """The message as the receiver decodes it; None if it cannot travel at all."""
    batch = pb.RaftBatch(from_node=message.src)
    try:
        add_to_batch(batch, message)
        return from_wire(pb.RaftBatch.FromString(batch.SerializeToString()).messages[0])
    except ValueError:
        return None


HARNESS_GROUP = 1
LEADER_KINDS = (m.AppendEntries, m.Heartbeat, m.InstallSnapshot)
ANSWER_KINDS = (m.AppendResponse, m.HeartbeatResponse, m.SnapshotResponse)


def tolerated(draw: st.DrawFn, original: m.Message) -> m.Message:
    """What a network or a peer may do to a real message without breaking Raft: repeat it
    (late), force a vote, turn a pre-vote into a vote, raise the term of an answer or of a
    vote request."""
    change = draw(st.sampled_from(["repeat", "repeat", "force", "unpre", "term"]))
    if change == "repeat":
        return original
    if isinstance(original, m.RequestVote):
        if change == "force" and not original.pre:
            return replace(original, force=True)
        if change == "unpre" and original.pre:
            return replace(original, pre=False)
        if change == "term" and not original.pre:
            return replace(original, term=original.term + draw(st.integers(1, 5)))
    if change == "term" and isinstance(original, ANSWER_KINDS):
        return replace(original, term=original.term + draw(st.integers(1, 5)))
    return original


def refused(draw: st.DrawFn, cluster: Cluster, original: m.Message) -> m.Message | None:
    """A change validation must refuse, given the receiver's state now; None if none fits."""
    receiver = cluster.nodes[original.dst]
    options = ["term-top", "term-jump"]
    if receiver.follows_live_leader or not isinstance(original, (*LEADER_KINDS, m.RequestVote)):
        # (One without a live leader may lag behind the change that added the sender.)
        options.append("non-member")
    if isinstance(original, LEADER_KINDS) and original.term == receiver.term:
        others = {1, 2, 3} - {original.dst, receiver.term_leader}
        if receiver.term_leader and others:
            options.append("not-the-leader")
    if isinstance(original, m.AppendEntries) and len(original.entries) >= 2:
        options.append("entries")
    if (
        isinstance(original, ANSWER_KINDS)
        and receiver.role is Role.LEADER
        and original.term == receiver.term
    ):
        options.append("stamp")
        if isinstance(original, m.AppendResponse):
            options.append("beyond")
    if receiver.term_leader and receiver.term_leader != original.src:
        options.append("timeout-now")
    change = draw(st.sampled_from(options))
    if change == "non-member":
        return replace(original, src=draw(st.sampled_from([4, 9, 1 << 40])))
    if change == "term-top":
        return replace(original, term=draw(st.sampled_from([MAX_TERM + 1, U64])))
    if change == "term-jump":
        return replace(original, term=receiver.term + MAX_TERM_JUMP + draw(st.integers(1, 9)))
    if change == "not-the-leader":
        src = draw(st.sampled_from(sorted({1, 2, 3} - {original.dst, receiver.term_leader})))
        return replace(original, src=src)
    if change == "entries":
        assert isinstance(original, m.AppendEntries)
        entries = list(original.entries)
        how = draw(st.sampled_from(["swap", "gap", "term"]))
        if how == "swap":
            entries[0], entries[1] = entries[1], entries[0]
        elif how == "gap":
            entries[1] = replace(entries[1], index=entries[1].index + 1)
        else:
            entries[-1] = replace(entries[-1], term=original.term + 1)
        return replace(original, entries=tuple(entries))
    if change == "stamp":
        assert isinstance(original, ANSWER_KINDS)
        return replace(original, stamp=receiver.stamp + draw(st.integers(1, 1 << 40)))
    if change == "beyond":
        assert isinstance(original, m.AppendResponse)
        return replace(original, reject=False, index=receiver.log.last_index() + 1)
    src = draw(st.sampled_from(sorted({1, 2, 3} - {original.dst, receiver.term_leader})))
    return m.TimeoutNow(HARNESS_GROUP, src, original.dst, receiver.term)


def settle(cluster: Cluster, rounds: int = 30) -> None:
    for _ in range(rounds):
        moved = cluster.process_all()
        if not (cluster.deliver() or moved):
            return


@fuzz
@given(st.data())
def test_hostile_messages_never_break_safety(data):
    cluster = Cluster(seed=data.draw(st.integers(0, 1000), label="seed"))
    safety = Safety()
    cluster.elect(1)
    for round_number in range(data.draw(st.integers(5, 40), label="rounds")):
        action = data.draw(
            st.sampled_from(
                ["tick", "tick", "propose", "tolerated", "tolerated", "refused", "fault"]
            ),
            label="action",
        )
        if action == "tick":
            ids = data.draw(st.lists(st.sampled_from([1, 2, 3]), min_size=1, unique=True))
            cluster.tick(ids, times=data.draw(st.integers(1, 12)))
        elif action == "propose":
            leader = cluster.leader()
            if leader:
                cluster.nodes[leader].propose(b"w%d" % round_number)
        elif action == "fault":
            fault = data.draw(st.sampled_from(["isolate", "heal", "crash"]))
            node_id = data.draw(st.sampled_from([1, 2, 3]))
            if fault == "isolate":
                cluster.isolate(node_id)
            elif fault == "heal":
                cluster.heal()
            elif not cluster.down:
                cluster.crash(node_id)
                settle(cluster)
                cluster.restart(node_id)
        elif cluster.sent:
            original = data.draw(st.sampled_from(cluster.sent[-60:]), label="original")
            if original.dst in cluster.down:
                continue
            message: m.Message | None
            if action == "tolerated":
                message = tolerated(data.draw, original)
                must_refuse = False
            else:
                message = refused(data.draw, cluster, original)
                must_refuse = True
            decoded = through_wire(message) if message is not None else None
            if decoded is not None:
                before = len(cluster.rejected)
                cluster.inject(decoded)
                taken = len(cluster.rejected) == before
                event(f"{action} {type(decoded).__name__}: {'taken' if taken else 'refused'}")
                if must_refuse:
                    assert not taken, f"taken: {decoded}"
        settle(cluster)
        safety.check(cluster)
    cluster.heal()
    cluster.run(40)
    safety.check(cluster)

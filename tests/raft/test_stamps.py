"""A leader's stamps fit the wire's uint64 for centuries of uptime: at 2^34 ticks (about
11 years at 20 ms) its heartbeats, appends and read rounds still encode and pass
validation (with a tick shift of 32, `to_wire` raised "Value out of range" after 2^32
ticks, about 2.7 years, and stopped the node)."""

from __future__ import annotations

from node.raft.readonly import stamp_at_tick
from node.raft.validate import check_message
from node.raft_wire import to_wire
from tests.raft.harness import Cluster


def test_a_leader_of_long_uptime_sends_stamps_that_encode_and_validate():
    c = Cluster()
    c.elect(1)
    leader = c.nodes[1]
    for node in c.nodes.values():
        node._ticks = 1 << 34
    assert stamp_at_tick(1 << 34) < 1 << 63
    leader.propose(b"after years")
    leader.read_index(b"ctx")
    c.tick(times=10)
    ready = leader.ready()
    sent = list(ready.messages)
    assert sent and max(getattr(m, "stamp", 0) for m in sent) >= stamp_at_tick(1 << 34)
    for message in sent:
        to_wire(message)  # raises ValueError when a field does not fit
        assert check_message(message, 1, message.dst) is None, message

"""The routers' internal pub/sub channels: packing, and that no client sees them (a
client's subscription to such a name is inert, patterns never match them, on the router
nor on the nodes); the node's invalidation feed publishes only while a router listens."""

from __future__ import annotations

from node.pubsub import PubSubHub, RouterSet
from node.tracking_feed import invalidation_publisher
from proto import slotraft_pb2 as pb
from proto.internal_channels import CONTROL, INVALIDATE, pack, unpack, unpack_invalidation
from router.connection import ClientState
from router.pubsub import Frame, PubSubRegistry


def test_pack_round_trip_and_malformed():
    items = [b"", b"a:b", b"\x00\r\n" * 5]
    assert unpack(pack(items)) == items
    assert unpack(b"") == []
    assert unpack(b"5:ab") is None
    assert unpack(b"x:ab") is None


class Collector:
    def __init__(self, client_id: int) -> None:
        self.client = ClientState(
            id=client_id, addr="", laddr="", fd=-1, created=0.0, authenticated=True
        )
        self.received: list[bytes] = []

    def deliver(self, frame: Frame) -> None:
        self.received.append(frame.encoded(False))


def test_router_registry_keeps_internal_channels_to_itself():
    registry = PubSubRegistry()
    spy, everything = Collector(1), Collector(2)
    registry.subscribe(spy, [CONTROL])
    registry.psubscribe(everything, [b"*"])
    heard: list[bytes] = []
    registry.listen(CONTROL, heard.append)
    assert registry.deliver(CONTROL, b"request") == 1
    assert heard == [b"request"] and spy.received == [] and everything.received == []
    channels, counts = registry.channel_counts()
    assert channels == [CONTROL] and counts == [1]  # the router once, not its client
    assert registry.active_channels(None) == []
    registry.unlisten(CONTROL)
    assert registry.deliver(CONTROL, b"request") == 0
    assert registry.deliver(b"news", b"m") == 1  # ordinary channels as before


def test_node_patterns_do_not_match_internal_channels():
    held = RouterSet()
    held.replace(
        pb.Subscription(channels=[CONTROL], channel_counts=[1], patterns=[b"*"], pattern_counts=[3])
    )
    assert held.receivers(CONTROL) == 1
    assert held.receivers(b"news") == 3


def test_invalidation_feed_only_while_a_router_listens():
    hub = PubSubHub()
    publish = invalidation_publisher(hub)
    sent: list[tuple[bytes, bytes]] = []

    def record(channel: bytes, message: bytes) -> int:
        sent.append((channel, message))
        return 1

    hub.publish = record  # type: ignore[method-assign,assignment]
    publish({b"k"}, 0)
    assert sent == []  # nobody listens: nothing published
    hub.has_receivers = lambda channel: channel == INVALIDATE  # type: ignore[method-assign]
    publish({b"b", b"a"}, 0)
    publish(set(), 0)
    publish({b"c"}, 42)
    assert sent == [(INVALIDATE, pack([b"0", b"a", b"b"])), (INVALIDATE, pack([b"42", b"c"]))]
    assert unpack_invalidation(sent[1][1]) == (42, [b"c"])
    assert unpack_invalidation(pack([b"x", b"c"])) is None
    assert unpack_invalidation(b"") is None

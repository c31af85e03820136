"""Keyspace notifications over LocalBackend (`slotraft router --local-shards`): the
backend is every shard's leader and the only router, so it delivers each command's events
to its own subscribers at once (and keeps none)."""

from __future__ import annotations

import asyncio

from proto.resp import Push
from proto.slots import key_slot
from slotraft.local_backend import LocalBackend
from tests.router.test_pubsub import Collector


def test_events_of_commands_transactions_and_expiry_reach_the_subscribers():
    async def scenario() -> None:
        backend = LocalBackend(3)
        listener = Collector(1)
        backend.pubsub.psubscribe(listener, [b"__key*__:*"])
        listener.received.clear()
        shard = backend.shard_for_slot(key_slot(b"k"))
        await backend.execute(shard, [[b"SET", b"k", b"v"]], False)
        assert listener.received == []  # notifications are off by default
        await backend.set_cluster_settings({"notify-keyspace-events": "Eg$x"})
        await backend.execute(shard, [[b"SET", b"k", b"v"], [b"EXPIRE", b"k", b"100"]], False)
        await backend.transaction(shard, [[b"DEL", b"k"], [b"APPEND", b"k", b"w"]], False, [])
        await backend.execute(shard, [[b"PEXPIRE", b"k", b"1"]], False)
        await asyncio.sleep(0.01)  # past the TTL (not asserted on)
        assert backend.expire_once() == 1
        assert listener.messages() == [
            Push([b"pmessage", b"__key*__:*", b"__keyevent@0__:" + event, b"k"])
            for event in (b"set", b"expire", b"del", b"append", b"expire", b"expired")
        ]
        assert all(state.engine.db.events == [] for state in backend._shards)

    asyncio.run(scenario())

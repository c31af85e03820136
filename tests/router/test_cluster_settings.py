"""CONFIG SET through a cluster router answers only once every shard adopted the change:
against a node's Config service (gRPC, on a loopback port) whose shards adopt it late,
or never."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import grpc
import pytest

from proto import slotraft_pb2 as pb
from proto import slotraft_pb2_grpc as pb_grpc
from router import cluster_settings
from router.backend import BackendError
from router.cluster_settings import ClusterSettings

VERSION = 7  # the metadata log index of the change


class FakeNode(pb_grpc.ConfigServicer):
    """A metadata leader that applies every change at VERSION; its Adoption answers come
    from `adoptions` in turn (the last one repeated)."""

    def __init__(self, adoptions: list[tuple[int, list[int]]]) -> None:
        self.adoptions = adoptions
        self.asked = 0

    async def Set(self, request: pb.ConfigSetRequest, context: Any) -> pb.ConfigSetReply:
        applied = pb.ConfigValues(version=VERSION, values=dict(request.values))
        return pb.ConfigSetReply(ok=True, applied=applied)

    async def Adoption(self, request: pb.StatusRequest, context: Any) -> pb.SettingsAdoption:
        version, shards = self.adoptions[min(self.asked, len(self.adoptions) - 1)]
        self.asked += 1
        return pb.SettingsAdoption(version=version, shards=shards)


class Link:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.channel = channel


async def config_set(node: FakeNode, budget: float | None = None) -> ClusterSettings:
    server = grpc.aio.server()
    pb_grpc.add_ConfigServicer_to_server(node, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        settings = ClusterSettings(cast(Any, {1: Link(channel)}), lambda: {0, 1, 2})
        if budget is not None:
            cluster_settings.ADOPT_BUDGET_S = budget
        await settings.set({"notify-keyspace-events": "KEA"})
        return settings
    finally:
        await channel.close()
        await server.stop(None)


@pytest.fixture(autouse=True)
def budget():
    saved = cluster_settings.ADOPT_BUDGET_S
    yield
    cluster_settings.ADOPT_BUDGET_S = saved


def test_config_set_answers_once_every_shard_adopted_the_change():
    node = FakeNode([(VERSION, [0]), (VERSION, [0, 2]), (VERSION, [0, 1, 2])])
    settings = asyncio.run(config_set(node))
    assert node.asked == 3
    assert settings.values["notify-keyspace-events"] == "KEA"


def test_an_adoption_of_an_older_version_does_not_count():
    node = FakeNode([(VERSION - 1, [0, 1, 2]), (VERSION + 1, [0, 1, 2])])
    asyncio.run(config_set(node))
    assert node.asked == 2


def test_a_shard_that_never_adopts_the_change_makes_config_set_fail_in_bounded_time():
    node = FakeNode([(VERSION, [0, 2])])
    with pytest.raises(BackendError) as failure:
        asyncio.run(config_set(node, budget=0.3))
    assert failure.value.reply.startswith(b"CLUSTERDOWN CONFIG SET applied, but shards 1 ")

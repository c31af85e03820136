"""Client workloads, by name."""

from __future__ import annotations

from chaos.workloads.base import Workload, WorkloadSettings
from chaos.workloads.counters import Counters
from chaos.workloads.locks import Locks
from chaos.workloads.pubsub import PubSub
from chaos.workloads.queues import Queues
from chaos.workloads.registers import Registers
from chaos.workloads.sets import Sets
from chaos.workloads.streams import Streams

WORKLOADS: dict[str, type[Workload]] = {
    cls.name: cls for cls in (Registers, Counters, Sets, Queues, Locks, PubSub, Streams)
}


def make_workload(
    name: str, prefix: str, settings: WorkloadSettings, shard_tags: list[str] | None = None
) -> Workload:
    return WORKLOADS[name](prefix, settings, shard_tags)

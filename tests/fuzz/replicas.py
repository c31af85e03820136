"""Three replicas of one shard applying the same entries, checked after every entry: no
exception escapes apply, the replies and the changed keys are the same on all three, and so
are their whole-state digests and memory accounting. A replica may be replaced by one
restored from another's snapshot, which must then stay in step."""

from __future__ import annotations

from dataclasses import dataclass, field

from node.engine.config import EngineConfig
from node.engine.digest import digests
from node.engine.engine import Engine
from node.shard_state import EntryResult, ShardState


class Divergence(AssertionError):
    pass


class InternalError(AssertionError):
    """A command raised unexpectedly: apply stayed total, but it is a bug to fix."""


INTERNAL = b"internal error in '"


def outcome_view(outcome: EntryResult) -> tuple:
    """What of an entry's outcome every replica must agree on (the leader answers clients
    from its own, and any replica may be the leader)."""
    results = [
        (
            result.replies,
            None if result.blocked is None else (result.blocked.keys, result.blocked.timeout),
        )
        for result in outcome.results
    ]
    return results, sorted(outcome.changed_keys), outcome.housekeeping_keys


@dataclass
class Shard:
    config: EngineConfig = field(default_factory=EngineConfig)
    replicas: list[ShardState] = field(default_factory=list)
    entries: list[bytes] = field(default_factory=list)
    history: list[bytes | str] = field(default_factory=list)  # entries and restores

    def __post_init__(self) -> None:
        self.replicas = [ShardState(Engine(self.config)) for _ in range(3)]

    @property
    def time_ms(self) -> int:
        return self.replicas[0].clock_ms

    def watch_digests(self, keys: list[bytes]) -> list[tuple[bytes, bytes]]:
        return digests(self.replicas[0].engine.db, keys)

    def apply(self, data: bytes) -> tuple:
        """Apply one entry on every replica; the (agreed) outcome."""
        self.entries.append(data)
        self.history.append(data)
        views = [outcome_view(replica.apply(data)) for replica in self.replicas]
        if views[1] != views[0] or views[2] != views[0]:
            raise Divergence(f"replies differ after entry {len(self.entries)}: {views}")
        for replies, _ in views[0][0]:
            for reply in replies or ():
                if INTERNAL in reply:
                    raise InternalError(reply.decode("utf-8", "replace"))
        self.check()
        return views[0]

    def check(self) -> None:
        digests_now = [replica.digest() for replica in self.replicas]
        if len(set(digests_now)) != 1:
            raise Divergence(f"state digests differ after entry {len(self.entries)}")
        memory = [replica.engine.db.used_memory for replica in self.replicas]
        if len(set(memory)) != 1:
            raise Divergence(f"used_memory differs after entry {len(self.entries)}: {memory}")

    def restore_replica(self, target: int, source: int) -> None:
        """Replace replica `target` by one restored from replica `source`'s snapshot."""
        self.history.append(f"replica {target} restored from replica {source}'s snapshot")
        restored = ShardState(Engine(self.config))
        restored.restore(self.replicas[source].snapshot())
        self.replicas[target] = restored
        self.check()

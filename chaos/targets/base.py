"""What the runner and the nemesis need from a cluster under test."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod

from node.identity import VERIFIED
from slotraft.ctl_slots import SlotMover

Link = tuple[int, int]  # (from node, to node): traffic in that direction


def votes_held(identity_json: str | None) -> bool:
    """Whether a node's identity file (its text; None when it cannot be read: a directory
    too new to have one, a stopped container) leaves the node holding its votes: any state
    but verified."""
    try:
        return identity_json is None or json.loads(identity_json)["state"] != VERIFIED
    except (ValueError, KeyError, TypeError):
        return True


class Target(ABC):
    name: str
    # Whether single directed links can be cut (else only whole nodes can be isolated).
    one_way_links: bool = False
    # Whether a node's data directory can be deleted (`lose_disk`).
    lost_disks: bool = False
    # Whether a second process can be started on a running node's data (`start_duplicate`).
    duplicates: bool = False
    # Whether slot ranges can be moved between shards (`slot_mover`).
    slot_moves: bool = False

    @abstractmethod
    def start(self) -> None:
        """Bring the cluster up (or find it up) and wait until it serves."""

    @abstractmethod
    def close(self) -> None:
        """Undo every fault; stop what start() started."""

    @abstractmethod
    def routers(self) -> list[tuple[str, int]]: ...

    @abstractmethod
    def nodes(self) -> list[int]: ...

    @abstractmethod
    def shards(self) -> list[int]: ...

    @abstractmethod
    def slot_ranges(self) -> list[tuple[int, int]]:
        """Per shard (by id), one range of slots it owns (inclusive)."""

    @abstractmethod
    def leader_of(self, shard: int) -> int:
        """The node that leads the shard, 0 if unknown."""

    @abstractmethod
    def kill(self, node: int) -> None:
        """SIGKILL."""

    @abstractmethod
    def start_node(self, node: int) -> None: ...

    @abstractmethod
    def stop_node(self, node: int) -> None:
        """A clean shutdown (SIGTERM), waited for."""

    @abstractmethod
    def pause(self, node: int) -> None:
        """SIGSTOP."""

    @abstractmethod
    def resume(self, node: int) -> None:
        """SIGCONT."""

    @abstractmethod
    def partition(self, groups: list[set[int]]) -> None:
        """Nodes talk only within their group (on top of what is already cut)."""

    def cut(self, links: set[Link]) -> None:
        """Drop the traffic of these directed links (when `one_way_links`)."""
        raise NotImplementedError(f"the {self.name} target cannot cut single links")

    def lose_disk(self, node: int) -> None:
        """SIGKILL the node and delete its data directory (when `lost_disks`)."""
        raise NotImplementedError(f"the {self.name} target cannot delete a node's data")

    def start_duplicate(self, node: int) -> tuple[bool, str]:
        """Start a second process with a running node's command line and data directory, as
        an operator or a supervisor may by mistake; wait for it to exit (killing it if it
        does not). (whether it refused to start, what it printed). When `duplicates`."""
        raise NotImplementedError(f"the {self.name} target cannot start duplicate nodes")

    def rejoining_nodes(self) -> list[int]:
        """Nodes whose data directory is not yet confirmed or caught up (votes held)."""
        return []

    @abstractmethod
    def heal_network(self) -> None: ...

    @abstractmethod
    def heal_all(self) -> None:
        """Every node running, none paused, no link cut."""

    @abstractmethod
    def wait_until_serving(self, timeout: float) -> None:
        """Until every router answers a write and a read on every shard; TimeoutError."""

    def unexpected_exits(self) -> list[str]:
        """Processes that died by themselves (not by the nemesis)."""
        return []

    def slot_mover(self) -> SlotMover:
        """A driver of `slotraft ctl move-slots` against this cluster."""
        raise NotImplementedError(f"the {self.name} target cannot move slots")

    def describe(self) -> dict[str, object]:
        return {"target": self.name}

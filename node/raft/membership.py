"""The memberships along one replica's log: the one at the compaction point, then one per
CONF_CHANGE entry in the log. The current membership is the last one (a change takes effect
when its entry is appended, see node.raft.confchange); truncating entries reverts theirs."""

from __future__ import annotations

from collections.abc import Sequence

from node.raft import confchange
from node.raft.types import ConfState, Entry


class MembershipLog:
    __slots__ = ("_history", "_members", "_members_key", "_version")

    def __init__(self, index: int, conf: ConfState) -> None:
        self._history: list[tuple[int, ConfState]] = [(index, conf)]
        self._version = 0  # grows with every change of the history (keys `_members`)
        self._members_key: tuple[int, int] | None = None
        self._members: tuple[frozenset[int], frozenset[int]] = (frozenset(), frozenset())

    @property
    def current(self) -> ConfState:
        return self._history[-1][1]

    @property
    def last_change_index(self) -> int:
        """The index of the entry that set the current membership (or the compaction point)."""
        return self._history[-1][0]

    def voters_at(self, index: int) -> tuple[int, ...]:
        """The voters of the membership in effect at `index`."""
        for changed_at, conf in reversed(self._history):
            if changed_at <= index:
                return conf.voters
        return self._history[0][1].voters

    def members_from(self, index: int) -> tuple[frozenset[int], frozenset[int]]:
        """(voters, voters and learners) of the membership in effect at `index` and of every
        later one in the log: while the changes after `index` (the commit index) are not
        committed, the members of either side of each may legitimately speak."""
        history = self._history
        position = len(history) - 1
        while position > 0 and history[position][0] > index:
            position -= 1
        key = (self._version, position)
        if key != self._members_key:
            voters: set[int] = set()
            learners: set[int] = set()
            for _, conf in history[position:]:
                voters.update(conf.voters)
                learners.update(conf.learners)
            self._members = (frozenset(voters), frozenset(voters | learners))
            self._members_key = key
        return self._members

    def reset(self, index: int, conf: ConfState) -> None:
        """A snapshot at `index` replaced the log."""
        self._history = [(index, conf)]
        self._version += 1

    def append(self, entries: Sequence[Entry], first_new: int) -> bool:
        """Record the changes among `entries` with index >= first_new (just appended to the
        log). Returns whether the membership changed."""
        history = self._history
        conf = history[-1][1]
        changed = False
        for entry in entries:
            if entry.type and entry.index >= first_new:
                try:
                    change = confchange.decode(entry.data)
                except confchange.InvalidConfChange:
                    # Every replica replays the same log: an entry none can read changes
                    # nothing on all of them, as a change that does not fit (apply).
                    continue
                conf = confchange.apply(conf, change)
                history.append((entry.index, conf))
                changed = True
        if changed:
            self._version += 1
        return changed

    def truncate(self, index: int) -> bool:
        """Entries from `index` on left the log. Returns whether the membership changed."""
        history = self._history
        if history[-1][0] < index:
            return False
        while len(history) > 1 and history[-1][0] >= index:
            history.pop()
        self._version += 1
        return True

    def at(self, index: int) -> ConfState:
        """The membership in effect once the log reaches `index`."""
        for at, conf in reversed(self._history):
            if at <= index:
                return conf
        return self._history[0][1]

    def compact(self, index: int) -> None:
        """Entries up to `index` were compacted away."""
        base = self.at(index)
        self._history = [(index, base)] + [item for item in self._history if item[0] > index]
        self._version += 1

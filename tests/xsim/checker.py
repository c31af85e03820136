"""Checks of one simulated run: conservation (bank totals), atomicity, exactly-once, the
clients' answers, a quiet end, and serializability by the direct serialization graph."""

from __future__ import annotations

import itertools
from collections import deque

from tests.xsim.bank import INITIAL, decode
from tests.xsim.history import History
from tests.xsim.world import World, pending_records


class Violation(AssertionError):
    pass


def check(world: World) -> dict[str, int]:
    """Raises Violation on the first broken property; returns counts of what was checked."""
    history = world.history
    total = INITIAL * len(world.keys)
    _check_quiet(world)
    _check_lock_bound(world)
    _check_installs(history)
    for reader, seen in history.balances_read:
        if seen != total:
            raise Violation(f"reader {reader} saw a total of {seen}, not {total}")
    final = sum(
        decode(shard.store.get(key))[0]
        for shard in world.shards
        for key in world.keys
        if world.shard_of[key] == shard.number
    )
    if final != total:
        raise Violation(f"the final total is {final}, not {total}")
    for name in history.client_committed:
        if name not in history.committed:
            raise Violation(f"{name} was answered committed but never committed")
    for name in history.client_aborted:
        if name in history.committed:
            raise Violation(f"{name} was answered aborted but committed")
    edges = _check_serializable(history)
    return {
        "committed": len(history.committed),
        "aborted": len(history.aborted),
        "reads": len(history.balances_read),
        "edges": edges,
        "unknown": len(history.client_unknown),
    }


def _check_quiet(world: World) -> None:
    for shard in world.shards:
        if len(shard.state.locks):
            raise Violation(f"shard {shard.number} still locks {shard.state.locks.held()}")
        if shard.state.prepared:
            raise Violation(f"shard {shard.number} still has prepared {list(shard.state.prepared)}")
    pending = pending_records(world)
    if pending:
        raise Violation(f"records still pending: {pending}")


# Once the cluster is whole, a lock is held at most this long past the lock timeout: the
# leader's next look at what is due, a RESOLVE's round trip and the ABORT's entry.
LOCK_BOUND_SLACK = 100


def _check_lock_bound(world: World) -> None:
    """The stated bound (docs/CROSS-SHARD.md, "Time bounds"), for the drain after the
    faults: every lock, whoever forgot it, is gone within lock-timeout plus a round trip."""
    healed = world.params.fault_time
    bound = world.params.lock_timeout + LOCK_BOUND_SLACK
    for shard, txn, since, until in world.holds:
        if until > healed and until - max(since, healed) > bound:
            held = until - max(since, healed)
            raise Violation(f"shard {shard} held {txn} for {held} ms after healing (> {bound})")


def _check_installs(history: History) -> None:
    for key, versions in history.installs.items():
        seen: set[str] = set()
        for version in versions:
            if version in seen:
                raise Violation(f"{key!r}: version {version} installed twice")
            seen.add(version)
            if version != "init" and version not in history.committed:
                raise Violation(f"{key!r}: version {version} of an uncommitted transaction")
    for name, record in history.committed.items():
        for key in record.writes:
            if name not in history.installs.get(key, ()):
                raise Violation(f"{name} committed but its write of {key!r} never installed")


def _check_serializable(history: History) -> int:
    """The direct serialization graph (Adya): ww between consecutive versions of a key, wr
    from a version's writer to its readers, rw from a reader to the next version's writer,
    and real-time edges between operations whose clients saw one end before the other
    began. A cycle means no serial order that respects real time explains the history."""
    successors: dict[str, set[str]] = {name: set() for name in history.committed}
    position: dict[bytes, dict[str, int]] = {}
    for key, versions in history.installs.items():
        position[key] = {version: index for index, version in enumerate(versions)}
        for earlier, later in itertools.pairwise(versions[1:]):  # after init
            successors[earlier].add(later)
    for name, record in history.committed.items():
        for key, version in record.reads.items():
            if version != "init" and version != name:
                successors[version].add(name)
            versions = history.installs[key]
            index = position[key].get(version)
            if index is None:
                raise Violation(f"{name} read {key!r} version {version}, never installed")
            if index + 1 < len(versions) and versions[index + 1] != name:
                successors[name].add(versions[index + 1])
    _real_time(history, successors)
    _acyclic(successors)
    return sum(len(targets) for targets in successors.values())


def _real_time(history: History, successors: dict[str, set[str]]) -> None:
    """Strict serializability (linearizability of transactions): what a client saw complete
    before another operation was invoked must come first in the serial order."""
    timed = sorted(
        (answered, invoked, name)
        for name, (invoked, answered) in history.timing.items()
        if name in history.committed
    )
    for answered, _, earlier in timed:
        for _, invoked, later in timed:
            if answered < invoked:
                successors[earlier].add(later)


def _acyclic(successors: dict[str, set[str]]) -> None:
    indegree = dict.fromkeys(successors, 0)
    for targets in successors.values():
        for target in targets:
            indegree[target] += 1
    ready = deque(name for name, degree in indegree.items() if degree == 0)
    done = 0
    while ready:
        name = ready.popleft()
        done += 1
        for target in successors[name]:
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
    if done != len(successors):
        stuck = sorted(name for name, degree in indegree.items() if degree > 0)
        raise Violation(f"serialization graph has a cycle among {stuck[:8]}")

"""The engine: executes one command at a time against a key space.

Pure: no sockets, no clock, no global random. `execute` takes the arguments (args[0] is the
command name), the time in milliseconds and a seeded random generator, and returns a typed
reply (proto.resp). Commands are resolved in the one command table (proto.commands, its
SHARD_COMMANDS) and executed by the functions registered in node.engine.registry.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Any

from node.engine import (  # noqa: F401  (importing registers the implementations)
    t_bitmap,
    t_dump,
    t_geo,
    t_hash,
    t_hll,
    t_keys,
    t_lease,
    t_list,
    t_set,
    t_sort,
    t_stream,
    t_string,
    t_zset,
)
from node.engine.blocking import WouldBlock
from node.engine.config import EngineConfig
from node.engine.databases import Databases
from node.engine.digest import digests, unchanged
from node.engine.errors import LOCAL_FAILURES, CommandError, internal_error
from node.engine.eviction import Evictor
from node.engine.keyspace import EXPIRE_OVERHEAD, KEY_OVERHEAD, Keyspace
from node.engine.registry import IMPLEMENTATIONS
from node.engine.scripting import Scripting
from node.engine.snapshot import dump, load_into
from proto.commands import SHARD_COMMANDS, CommandSpec, Unresolved
from proto.databases import select_index
from proto.errors import OOM
from proto.resp import OK, Error, Reply

READONLY_WRITE = b"READONLY You can't write against a read only replica."


_PLAIN_SET = frozenset({b"SET", b"set"})
# The commands a shard runs (proto.commands.index: every route but the router's).
_resolve = SHARD_COMMANDS.resolve


def is_plain_set(args: list[bytes], config: EngineConfig) -> bool:
    """SET key value with no options and no memory limit to check: a string to store, with
    no dispatch needed (what Engine.execute and the shard's apply loop take a shortcut for)."""
    return len(args) == 3 and args[0] in _PLAIN_SET and not config.maxmemory


_LEASE_COMMANDS = frozenset({"lease.get", "lease.set"})


def _void_leases(db: Keyspace, spec: CommandSpec, args: list[bytes]) -> None:
    """A write naming a key voids its lease even if it changed nothing (DEL of a missing
    key: the invalidation after a database update), and wakes its waiters to ask again."""
    for key in spec.keys(args):
        if db.leases.void(key):
            db.changed.append(key)


def _every_slot(slot: int) -> bool:
    return True


class Engine:
    """One shard replica's data and the commands that act on it."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        # The selected database's key space (select); database 0 between requests.
        self.db = Keyspace(self.config)
        self.databases = Databases(self.config, self.db)
        # Leader-local eviction state (recency/frequency tracker), one per key space; not
        # replicated.
        self.evictor: Evictor = self.databases.evictors[0]
        # The script cache (replicated: snapshots carry it) and the Lua runtime.
        self.scripting = Scripting(self)
        # Whether a hash slot belongs to this shard: a script may only touch keys that do.
        # The node sets it from the shard's placement; a lone engine owns every slot.
        self.owns_slot: Callable[[int], bool] = _every_slot
        # Inside MULTI/EXEC: what the transaction has left of max-command-work, which its
        # commands share (node.engine.work); None outside a transaction.
        self._transaction_work: int | None = None
        # Keyspace events of reads served outside the log (execute_readonly), for the
        # node to publish: a read runs on one replica only.
        self.read_events: list[tuple[str, bytes, bytes]] = []

    # ------------------------------------------------------------------ databases

    def select(self, index: int) -> Keyspace:
        """Make database `index` (0-15) the one commands act on, and return it."""
        db = self.db = self.databases.database(index)
        return db

    def select_for_read(self, index: int) -> Keyspace:
        """select for a read outside the log: a database never written is not made."""
        db = self.db = self.databases.readable(index)
        return db

    def take_events(self) -> list[tuple[Any, ...]]:
        """The keyspace events every database recorded since the last call (the key
        spaces share one list)."""
        return self.db.take_events()

    def install_evictors(self) -> None:
        """(Re)create every key space's access tracker for the configured policy."""
        self.databases.install_evictors()

    def used_memory(self) -> int:
        """Every database's used_memory (maxmemory is the shard's, not a database's)."""
        return sum(db.used_memory for db in self.databases.spaces.values())

    def key_count(self) -> int:
        """The keys of every database."""
        return sum(len(db.data) for db in self.databases.spaces.values())

    # ------------------------------------------------------------------ commands

    def execute(self, args: list[bytes], now_ms: int, rng: random.Random) -> Reply:
        """Execute a command on the mutating path (the Raft apply loop). May return a
        WouldBlock for a blocking command that found nothing to pop."""
        if is_plain_set(args, self.config):
            # The most frequent write, without the generic dispatch (a third of its cost).
            db = self._mutating(now_ms, rng)
            db.set(args[1], args[2])
            if self.config.notify_keyspace_events:
                db.notify("$", b"set", args[1])
            return OK
        spec = _resolve(args)
        if type(spec) is Unresolved:
            return Error(spec.text)
        return self.execute_resolved(spec, args, now_ms, rng)  # type: ignore[arg-type]

    def execute_resolved(
        self,
        spec: CommandSpec,
        args: list[bytes],
        now_ms: int,
        rng: random.Random,
        check_oom: bool = True,  # scripts check maxmemory themselves, as Redis's do
    ) -> Reply:
        if check_oom and self.config.maxmemory and spec.denied_when_oom and self.out_of_memory():
            return Error(OOM)
        implementation = IMPLEMENTATIONS.get(spec.name)
        if implementation is None:  # scripts run their commands through this method
            self.db.changed = []
            try:
                return self.scripting.execute(spec.name, args, now_ms, rng, read_only=False)
            except LOCAL_FAILURES:
                raise
            except Exception as error:  # apply must be total (node.shard_state)
                return Error(internal_error(spec.name, error))
        db = self._mutating(now_ms, rng)
        db.reading = spec.is_read_only
        try:
            self._begin_work(db, args)
            reply = implementation(db, args)
        except CommandError as error:
            reply = Error(error.message)
        except LOCAL_FAILURES:
            raise
        except Exception as error:  # apply must be total (node.shard_state)
            reply = Error(internal_error(spec.name, error))
        finally:
            db.reading = False
        if db.leases.records and spec.is_write and spec.name not in _LEASE_COMMANDS:
            _void_leases(db, spec, args)
        if db.changed:
            db.reaccount()
        return reply

    def _begin_work(self, db: Keyspace, args: list[bytes]) -> None:
        """Give the command its work budget and charge its arguments (node.engine.work)."""
        budget = self._transaction_work
        db.begin_work(self.config.max_command_work if budget is None else budget)
        db.charge(len(args) - 1)

    def _mutating(self, now_ms: int, rng: random.Random) -> Keyspace:
        """The keyspace, set up for one command on the mutating path."""
        db = self.db
        db.now_ms = now_ms
        db.rng = rng
        db.mutating = True
        db.changed = []
        return db

    def execute_readonly(self, args: list[bytes], now_ms: int, rng: random.Random) -> Reply:
        """Execute a read-only command outside the log (lease/ReadIndex reads, follower
        reads). Never mutates: expired keys are treated as absent, not deleted."""
        spec = _resolve(args)
        if type(spec) is Unresolved:
            return Error(spec.text)
        return self.execute_readonly_resolved(spec, args, now_ms, rng)  # type: ignore[arg-type]

    def execute_readonly_resolved(
        self, spec: CommandSpec, args: list[bytes], now_ms: int, rng: random.Random
    ) -> Reply:
        if not spec.is_read_only:
            return Error(READONLY_WRITE)
        implementation = IMPLEMENTATIONS.get(spec.name)
        if implementation is None:
            try:
                return self.scripting.execute(spec.name, args, now_ms, rng, read_only=True)
            except LOCAL_FAILURES:
                raise
            except Exception as error:  # a read's failure must not escape into the node
                return Error(internal_error(spec.name, error))
        db = self.db
        db.now_ms = now_ms
        db.rng = rng
        db.mutating = False
        db.reading = True
        # A read may run between two commands of an entry being applied: its events (key
        # misses) are kept apart from the entry's, for the node that serves it to publish.
        notifying = bool(self.config.notify_keyspace_events)
        if notifying:
            entry_events = db.take_events()
        try:
            self._begin_work(db, args)
            return implementation(db, args)
        except CommandError as error:
            return Error(error.message)
        except LOCAL_FAILURES:
            raise
        except Exception as error:  # a read's failure must not escape into the node's loop
            return Error(internal_error(spec.name, error))
        finally:
            db.mutating = True
            db.reading = False
            if notifying:
                self.read_events.extend(db.take_events())
                db.events.extend(entry_events)

    def execute_transaction(
        self,
        commands: list[list[bytes]],
        now_ms: int,
        rng: random.Random,
        watches: list[tuple[bytes, bytes]] | None = None,
    ) -> list[Reply] | None:
        """MULTI/EXEC body in one entry: each command in order; a blocking command that
        would block answers what it answers where it may not block, as Redis does inside MULTI.
        `watches` are the (key, digest) pairs taken at WATCH: if any key's digest differs
        now, nothing runs and the reply is None (EXEC's null reply)."""
        if watches:
            self.db.now_ms = now_ms
            if not unchanged(self.db, watches):
                self.db.changed = []
                return None
        replies: list[Reply] = []
        changed: list[bytes] = []
        db = self.db
        # The transaction is one entry, applied in one go: its commands share one budget.
        self._transaction_work = self.config.max_command_work
        try:
            for args in commands:
                db.work_done = 0
                db.changed = []
                if args[0].lower() == b"select" and len(args) == 2:
                    # The router sends a transaction's SELECTs along: the commands after
                    # one act on its database, as in Redis.
                    index = select_index(args[1])
                    if type(index) is bytes:
                        replies.append(Error(index))
                        continue
                    db = self.select(index)  # type: ignore[arg-type]
                    db.changed = []
                    replies.append(OK)
                    continue
                # Without execute's SET shortcut, which would not charge the budget.
                spec = _resolve(args)
                if type(spec) is Unresolved:
                    reply: Reply = Error(spec.text)
                else:
                    reply = self.execute_resolved(spec, args, now_ms, rng)  # type: ignore[arg-type]
                self._transaction_work = max(self._transaction_work - db.work_done, 0)
                changed.extend(db.changed)
                if type(reply) is WouldBlock:
                    reply = spec.blocking.reply_if_cannot_block  # type: ignore[union-attr]
                replies.append(reply)
        finally:
            self._transaction_work = None
        db.changed = changed
        return replies

    # ------------------------------------------------------------------ expiry and eviction

    def out_of_memory(self) -> bool:
        """Whether a DENYOOM command must be refused: over maxmemory and no key can be
        evicted under the policy (the leader proposes evictions asynchronously)."""
        if self.used_memory() <= self.config.maxmemory:
            return False
        policy = self.config.maxmemory_policy
        if policy == "noeviction":
            return True
        spaces = self.databases.spaces.values()
        if policy.startswith("volatile-"):
            return not any(db.expires for db in spaces)
        return not any(db.data for db in spaces)

    def expired_candidates(self, now_ms: int, limit: int = 64) -> list[bytes]:
        """Database 0's keys past their TTL (the key space with id 0)."""
        return self.databases.spaces[0].expired_candidates(now_ms, limit)

    def expired_by_space(self, now_ms: int, limit: int = 64) -> dict[int, list[bytes]]:
        """Keys past their TTL in every key space, by key space id (at most `limit` in
        each), for the leader's active-expiry entry."""
        found = {}
        for space_id, db in self.databases.spaces.items():
            if db.expires:
                keys = db.expired_candidates(now_ms, limit)
                if keys:
                    found[space_id] = keys
        return found

    def apply_expire(self, keys: list[bytes], now_ms: int, space_id: int = 0) -> int:
        """Apply an active-expiry entry proposed by the leader."""
        db = self.db = self.databases.space(space_id)
        db.now_ms = now_ms
        db.mutating = True
        db.changed = []
        return db.expire_keys(keys)

    def apply_evict(self, keys: list[bytes], space_id: int = 0) -> int:
        """Apply an eviction entry proposed by the leader."""
        db = self.db = self.databases.space(space_id)
        db.changed = []
        count = 0
        for key in keys:
            if db.delete(key):
                db.notify("e", b"evicted", key)
                count += 1
        db.evicted_keys += count
        return count

    def memory_to_free(self) -> int:
        """Bytes over maxmemory (0 when under it or unlimited): what evictions must free."""
        maxmemory = self.config.maxmemory
        return max(self.used_memory() - maxmemory, 0) if maxmemory else 0

    def eviction_candidates(self, count: int, rng: random.Random | None = None) -> list[bytes]:
        """Up to `count` keys of database 0 the policy would evict, best first."""
        return self.evictor.candidates(count, rng)

    def eviction_candidates_by_space(
        self, count: int, rng: random.Random | None = None
    ) -> tuple[int, list[bytes]]:
        """(key space id, up to `count` of its keys the policy would evict, best first),
        from the key space that holds the most memory with a candidate, for the leader to
        propose as an eviction entry. Reads leader-local recency; changes nothing
        replicated."""
        databases = self.databases
        by_size = sorted(databases.spaces.items(), key=lambda item: -item[1].used_memory)
        for space_id, _ in by_size:
            keys = databases.evictors[space_id].candidates(count, rng)
            if keys:
                return space_id, keys
        return 0, []

    # ------------------------------------------------------------------ WATCH and snapshots

    def watch_digests(self, keys: list[bytes], now_ms: int) -> list[tuple[bytes, bytes]]:
        """(key, digest) per key at `now_ms`, for WATCH; compared again by EXEC."""
        self.db.now_ms = now_ms
        return digests(self.db, keys)

    def snapshot(self) -> bytes:
        """The replicated state as bytes (node.engine.snapshot; several key spaces in
        node.engine.databases's frame)."""
        databases = self.databases
        if databases.is_plain():
            return dump(databases.spaces[0])
        return databases.dump(dump)

    def restore(self, blob: bytes | bytearray | memoryview) -> None:
        """Replace the state by a snapshot's; raises snapshot.SnapshotError (or
        databases.DatabaseError), leaving the state as it was, when the snapshot is
        corrupted, truncated or of another version."""
        self.databases.restore(blob, load_into)
        self.select(0)

    @property
    def changed_keys(self) -> list[bytes]:
        """Keys modified by the last execute call (for WATCH and blocked clients)."""
        return self.db.changed

    def stats(self) -> dict[str, Any]:
        spaces = list(self.databases.spaces.values())
        keys = sum(len(db.data) for db in spaces)
        expires = sum(len(db.expires) for db in spaces)
        return {
            "keys": keys,
            "expires": expires,
            "used_memory": self.used_memory(),
            "expired_keys": sum(db.expired_keys for db in spaces),
            "evicted_keys": sum(db.evicted_keys for db in spaces),
            "keyspace_hits": sum(db.keyspace_hits for db in spaces),
            "keyspace_misses": sum(db.keyspace_misses for db in spaces),
            "dirty": sum(db.dirty for db in spaces),
            "avg_ttl": _average_ttl(self.databases.spaces[0]),
            # What used_memory counts besides the data: per key and per expiry.
            "overhead_bytes": keys * KEY_OVERHEAD + expires * EXPIRE_OVERHEAD,
            "cached_scripts": len(self.scripting.bodies),
            "script_bytes": sum(map(len, self.scripting.bodies.values())),
            "libraries": len(self.scripting.functions.libraries),
            "functions": sum(
                len(library.functions) for library in self.scripting.functions.libraries.values()
            ),
            # INFO keyspace's line of each database that has keys: dbN_keys, dbN_expires,
            # dbN_avg_ttl (flat: the node's Stats carries integers only).
            **self._database_stats(),
        }

    def _database_stats(self) -> dict[str, int]:
        stats = {}
        for index, db in self.databases.existing():
            if db.data:
                stats[f"db{index}_keys"] = len(db.data)
                stats[f"db{index}_expires"] = len(db.expires)
                stats[f"db{index}_avg_ttl"] = _average_ttl(db)
        stats["db_map_epoch"] = self.databases.map_epoch
        stats["db_fence_epoch"] = self.databases.fence_epoch
        return stats


def _average_ttl(db: Keyspace, samples: int = 1000) -> int:
    """The average time to live (ms, at the shard's clock) of up to `samples` keys with
    one, as INFO keyspace's avg_ttl estimates it (0: none)."""
    now = db.now_ms
    ttls = [max(at - now, 0) for at in itertools.islice(db.expires.values(), samples)]
    return sum(ttls) // len(ttls) if ttls else 0

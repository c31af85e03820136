"""The databases of one shard replica: SELECT's 0-15, each a key space of its own.

A database index names a key space through a map (database -> key space id), a
permutation of 0-15 that starts as the identity. SWAPDB changes the map, never the data:
on a lone engine at once (`swap`), in a cluster through the metadata group, which
installs the same map on every shard (`install_map`, node/db_swaps.py). Between the two
steps of a cluster's swap the databases it names are *fenced* on the shard: a command on
them is not run but answered SLOT_MOVING, and the router sends it again (router/
moving_slots.py), so that no client sees one shard swapped and another not.

Key spaces are made on first use: a shard that only ever sees database 0 holds one, and
its snapshot keeps the format it had before databases existed (node/engine/snapshot.py).
Housekeeping entries (expiry, eviction) name key space ids, which a swap does not change;
client requests name database indexes, resolved when they apply.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

from node.engine.config import EngineConfig
from node.engine.eviction import Evictor
from node.engine.keyspace import Keyspace
from proto.databases import DATABASES

IDENTITY = tuple(range(DATABASES))

# A snapshot of several key spaces: this magic, the map's epoch, the fence's epoch and
# mask, the map, the count of key spaces, then per key space its id, its length and its
# snapshot (node/engine/snapshot.py dump).
MULTI_MAGIC = b"SRDBSET1"
_MULTI_HEADER = struct.Struct(">8sQQH16BH")
_SPACE_HEADER = struct.Struct(">BQ")


class DatabaseError(ValueError):
    """A malformed map or multi-database snapshot."""


def valid_map(mapping: object) -> bool:
    """Whether `mapping` is a permutation of 0-15 (a list or tuple of ints)."""
    if type(mapping) is not list and type(mapping) is not tuple:
        return False
    assert isinstance(mapping, list | tuple)
    return (
        len(mapping) == DATABASES
        and all(type(item) is int for item in mapping)
        and sorted(mapping) == list(IDENTITY)
    )


class Databases:
    """Key spaces by id, the database map, and the fence of a swap in progress."""

    def __init__(self, config: EngineConfig, first: Keyspace) -> None:
        self.config = config
        self.spaces: dict[int, Keyspace] = {0: first}
        self.evictors: dict[int, Evictor] = {0: Evictor(first)}
        self.mapping: list[int] = list(IDENTITY)  # database index -> key space id
        self.map_epoch = 0  # the metadata group's swap count the map reflects
        self.fence_epoch = 0  # the swap the fence is for (0: none)
        self.fenced = 0  # bit i: database i is fenced
        first.databases = self
        first.index = 0

    # ------------------------------------------------------------------ lookups

    def space(self, space_id: int) -> Keyspace:
        """The key space with this id, made empty on first use."""
        db = self.spaces.get(space_id)
        if db is None:
            db = self.spaces[space_id] = Keyspace(self.config)
            db.databases = self
            db.events = self.spaces[0].events  # one list: events keep their order
            db.index = self.mapping.index(space_id)
            self.evictors[space_id] = Evictor(db)
        return db

    def database(self, index: int) -> Keyspace:
        """Database `index`'s key space (0 <= index < 16), made on first use."""
        return self.space(self.mapping[index])

    def readable(self, index: int) -> Keyspace:
        """Database `index`'s key space for a read outside the log: one not made yet is an
        empty one that is not kept (a read on one replica must not change what its
        snapshots and digest hold)."""
        db = self.spaces.get(self.mapping[index])
        if db is None:
            db = Keyspace(self.config)
            db.databases = self
            db.index = index
            db.events = self.spaces[0].events
        return db

    def space_id(self, index: int) -> int:
        return self.mapping[index]

    def is_fenced(self, index: int) -> bool:
        return bool(self.fenced >> index & 1)

    def existing(self) -> Iterator[tuple[int, Keyspace]]:
        """(database index, key space) of every key space made so far, by index."""
        for index, space_id in enumerate(self.mapping):
            db = self.spaces.get(space_id)
            if db is not None:
                yield index, db

    def all_spaces(self) -> list[Keyspace]:
        return list(self.spaces.values())

    # ------------------------------------------------------------------ changes

    def swap(self, first: int, second: int) -> None:
        """SWAPDB on a lone engine: the two indexes exchange their key spaces."""
        mapping = self.mapping
        mapping[first], mapping[second] = mapping[second], mapping[first]
        self._renumber()

    def install_map(self, epoch: int, mapping: list[int], fence_epoch: int, fenced: int) -> bool:
        """A cluster swap's step, from the metadata group: the map of swap `epoch` and the
        databases fenced for swap `fence_epoch` (only if it is later than `epoch`). Older
        steps (a leader proposing again) change nothing. Whether the map changed."""
        changed = False
        if epoch > self.map_epoch:
            self.mapping = list(mapping)
            self.map_epoch = epoch
            self._renumber()
            changed = True
        if fence_epoch > self.map_epoch and fence_epoch >= self.fence_epoch:
            self.fence_epoch = fence_epoch
            self.fenced = fenced
        elif self.fence_epoch <= self.map_epoch:
            self.fence_epoch = 0
            self.fenced = 0
        return changed

    def _renumber(self) -> None:
        for index, space_id in enumerate(self.mapping):
            db = self.spaces.get(space_id)
            if db is not None:
                db.index = index

    def install_evictors(self) -> None:
        for evictor in self.evictors.values():
            evictor.install()

    def drop_empty(self, keep: Keyspace) -> None:
        """Forget empty key spaces other than 0 and `keep` (the one the running command
        acts on) after FLUSHALL: snapshots stay small."""
        empty = [
            s
            for s, db in self.spaces.items()
            if s and db is not keep and not db.data and not db.leases.records
        ]
        for space_id in empty:
            del self.spaces[space_id]
            del self.evictors[space_id]

    # ------------------------------------------------------------------ snapshots

    def is_plain(self) -> bool:
        """Only key space 0, the identity map, no fence: the one-database snapshot format."""
        return (
            len(self.spaces) == 1
            and self.map_epoch == 0
            and self.fenced == 0
            and self.mapping == list(IDENTITY)
        )

    def dump(self, dump_space: Callable[[Keyspace], bytes]) -> bytes:
        parts = [
            _MULTI_HEADER.pack(
                MULTI_MAGIC,
                self.map_epoch,
                self.fence_epoch,
                self.fenced,
                *self.mapping,
                len(self.spaces),
            )
        ]
        for space_id in sorted(self.spaces):
            body = dump_space(self.spaces[space_id])
            parts.append(_SPACE_HEADER.pack(space_id, len(body)))
            parts.append(body)
        return b"".join(parts)

    def restore(
        self,
        blob: bytes | bytearray | memoryview,
        load_space: Callable[[Keyspace, memoryview], None],
    ) -> None:
        """Replace every key space by a snapshot's, one-database or several. Raises
        DatabaseError or the key space loader's error, leaving the state as it was."""
        view = memoryview(blob)
        if bytes(view[:8]) != MULTI_MAGIC:
            fresh = Keyspace(self.config)
            load_space(fresh, view)
            self._install({0: fresh}, list(IDENTITY), 0, 0, 0)
            return
        if len(view) < _MULTI_HEADER.size:
            raise DatabaseError("database set snapshot is truncated")
        _, map_epoch, fence_epoch, fenced, *rest = _MULTI_HEADER.unpack_from(view)
        mapping, count = list(rest[:DATABASES]), rest[DATABASES]
        if not valid_map(mapping) or count > DATABASES or fenced >> DATABASES:
            raise DatabaseError("database set snapshot has a malformed header")
        position = _MULTI_HEADER.size
        spaces: dict[int, Keyspace] = {}
        for _ in range(count):
            if position + _SPACE_HEADER.size > len(view):
                raise DatabaseError("database set snapshot is truncated")
            space_id, size = _SPACE_HEADER.unpack_from(view, position)
            position += _SPACE_HEADER.size
            if space_id >= DATABASES or space_id in spaces or position + size > len(view):
                raise DatabaseError("database set snapshot has a malformed key space")
            fresh = Keyspace(self.config)
            load_space(fresh, view[position : position + size])
            spaces[space_id] = fresh
            position += size
        if position != len(view) or 0 not in spaces:
            raise DatabaseError("database set snapshot has trailing bytes or no key space 0")
        self._install(spaces, mapping, map_epoch, fence_epoch, fenced)

    def _install(
        self,
        spaces: dict[int, Keyspace],
        mapping: list[int],
        map_epoch: int,
        fence_epoch: int,
        fenced: int,
    ) -> None:
        # Key space 0 stays the same object: the engine and its evictor hold it.
        first = self.spaces[0]
        loaded = spaces[0]
        _take_contents(first, loaded)
        spaces[0] = first
        self.spaces = spaces
        self.mapping = mapping
        self.map_epoch = map_epoch
        self.fence_epoch = fence_epoch
        self.fenced = fenced
        self.evictors = {0: self.evictors[0]}
        for space_id, db in spaces.items():
            db.databases = self
            db.events = first.events
            if space_id:
                self.evictors[space_id] = Evictor(db)
        self._renumber()
        self.install_evictors()


def _take_contents(target: Keyspace, source: Keyspace) -> None:
    """Move a freshly loaded key space's replicated contents into `target`."""
    target.data = source.data
    target.expires = source.expires
    target.dirty = source.dirty
    target.expired_keys = source.expired_keys
    target.evicted_keys = source.evicted_keys
    target.leases = source.leases
    target.changed = []
    # The indexes load_into built (rebuilding them again costs O(keys)).
    target.used_memory = source.used_memory
    target._expiry_heap = source._expiry_heap
    target._sample_keys = source._sample_keys
    target.scan_index = None

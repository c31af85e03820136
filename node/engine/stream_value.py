"""The stream container (Redis 7.0's t_stream.c data, without its radix tree).

Entries live in blocks of up to NODE_MAX_ENTRIES, as Redis's listpack nodes do: a block
holds its IDs in one array('Q') (ms and seq interleaved), its fields and values packed in
one bytearray and an array('I') of where each entry starts, so a million small entries
cost a few Python objects per hundred entries, not per entry. A block also counts the
entries that were deleted from it (Redis keeps them as flagged tombstones until the whole
node goes): a new block starts when live plus deleted reach NODE_MAX_ENTRIES, which keeps
the blocks where Redis has its nodes, and so approximate trimming (`~`, whole nodes only)
removes what Redis removes. A block may hold tombstones only: Redis's exact XTRIM MINID
keeps a node whose live entries it trimmed when the node's last entry (deleted or not)
is at or above the minimum ID, and that node stays in its radix tree (XINFO counts it,
DUMP writes it, XADD appends to it when it is the last one). `_firsts` holds each
block's bisection key: its first live ID, or for a block without one, one more than
the last live ID before it (0 if none), which sorts it among the others whatever IDs
its tombstones have (a restored payload's are not checked against the other nodes').

An ID is one int, ms << 64 | seq. Consumer groups, their pending entries lists and
consumers are plain objects: they are replicated state (snapshots carry them).
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator
from typing import Any

from node.engine.config import EngineConfig
from node.engine.keyspace import Container
from node.engine.parsing import to_int

SEQ_MASK = (1 << 64) - 1
MAX_ID = (1 << 128) - 1
# Redis's stream-node-max-entries default: entries (live and deleted) per node.
NODE_MAX_ENTRIES = 100
INVALID_ENTRIES_READ = -1

# Estimated bytes, constants so that every replica computes the same `mem`: the stream's
# own headers, each block's arrays and headers, each entry's ID and offset, each pending
# entry, each consumer and group. Tombstones are not counted, nor is a block that holds
# only tombstones: `mem` then changes only with live content, so a trim that deletes no
# entry (and, as Redis, signals no change) never leaves the accounted size behind.
STREAM_OVERHEAD = 120
BLOCK_OVERHEAD = 240
ENTRY_OVERHEAD = 20
NACK_OVERHEAD = 80
CONSUMER_OVERHEAD = 100
GROUP_OVERHEAD = 150

_U64 = struct.Struct("<Q")
# A block's header: its deleted count, listpack size and master ID (then master fields).
_BLOCK = struct.Struct("<QQQQ")
# A pending entry: its ID, delivery time and count (the first record: the seen time).
_NACK = struct.Struct("<QQqq")


def make_id(ms: int, seq: int) -> int:
    return (ms << 64) | seq


def format_id(stream_id: int) -> bytes:
    return b"%d-%d" % (stream_id >> 64, stream_id & SEQ_MASK)


# ---------------------------------------------------------------------- entry packing


def _varint(value: int, out: bytearray) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def pack_entry(items: list[bytes], out: bytearray) -> None:
    """Append an entry's fields and values: their count, then each length and bytes."""
    _varint(len(items), out)
    for item in items:
        _varint(len(item), out)
        out += item


def _varint_at(data: bytearray, position: int) -> tuple[int, int]:
    """The varint at `position`, and where the next thing starts."""
    value = shift = 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7


def _unpack_entry(data: bytearray, position: int) -> list[bytes]:
    # One-byte varints (counts and lengths below 128) are read inline: the usual case.
    count = data[position]
    if count < 0x80:
        position += 1
    else:
        count, position = _varint_at(data, position)
    items: list[bytes] = []
    append = items.append
    for _ in range(count):
        length = data[position]
        if length < 0x80:
            position += 1
        else:
            length, position = _varint_at(data, position)
        end = position + length
        append(bytes(data[position:end]))
        position = end
    return items


def _unpack_entry_end(data: bytearray, position: int) -> tuple[list[bytes], int]:
    """An entry's items, and where the next thing starts."""
    count, position = _varint_at(data, position)
    items: list[bytes] = []
    for _ in range(count):
        length, position = _varint_at(data, position)
        end = position + length
        if end > len(data):
            raise IndexError("entry past the end")
        items.append(bytes(data[position:end]))
        position = end
    return items, position


# ---------------------------------------------------------------------- Redis's node size
# A new block starts where Redis starts a new listpack node: when the node's entries (live
# and deleted) reach stream-node-max-entries, or its listpack bytes plus the new entry's
# field and value bytes reach stream-node-max-bytes. So the listpack's size is computed as
# Redis's listpack.c encodes it (an element that reads as an integer is stored as one).
NODE_MAX_BYTES = 4096
LISTPACK_MAX_SIZE = 1 << 30  # Redis's STREAM_LISTPACK_MAX_SIZE
_LISTPACK_EMPTY = 7  # header and end byte
_SAMEFIELDS = 2
_INT64 = 1 << 64


def _backlen(size: int) -> int:
    if size < 128:
        return 1
    if size < 16384:
        return 2
    if size < 2097152:
        return 3
    return 4 if size < 268435456 else 5


def _lp_int(value: int) -> int:
    """Bytes of an integer element (its encoding and back-length)."""
    if 0 <= value <= 127:
        size = 1
    elif -4096 <= value <= 4095:
        size = 2
    elif -32768 <= value <= 32767:
        size = 3
    elif -8388608 <= value <= 8388607:
        size = 4
    elif -(2**31) <= value < 2**31:
        size = 5
    else:
        size = 9
    return size + 1


def _lp_element(item: bytes) -> int:
    """Bytes of a string element; one that reads as a 64-bit integer is stored as one."""
    if len(item) <= 20:
        value = to_int(item)
        if value is not None:
            return _lp_int(value)
    length = len(item)
    size = length + (1 if length < 64 else 2 if length < 4096 else 5)
    return size + _backlen(size)


def _signed(value: int) -> int:
    """A uint64 difference as Redis stores it (int64)."""
    value %= _INT64
    return value - _INT64 if value >= 1 << 63 else value


class Block:
    """Up to NODE_MAX_ENTRIES consecutive entries of a stream, in ID order."""

    __slots__ = (
        "data",
        "deleted",
        "grave_high",
        "graves",
        "ids",
        "listpack_bytes",
        "master",
        "master_fields",
        "starts",
    )

    def __init__(self, master: int = 0, master_fields: list[bytes] | None = None) -> None:
        self.ids = array("Q")  # ms, seq, ms, seq, ...
        self.starts = array("I")  # where each entry begins in `data`
        self.data = bytearray()
        self.deleted = 0  # entries removed from this block while it lived (tombstones)
        # The removed entries themselves, in removal order: Redis keeps them in its node
        # (flagged deleted) and DUMP writes them (proto.rdb.stream). Packed as live ones.
        self.graves: Block | None = None
        # The highest tombstone ID (graves are in removal order): the block's last entry
        # when it is deleted, which Redis's MINID trim reads.
        self.grave_high = 0
        # Redis's node for these entries: its key (the first ID it got), the fields of
        # that first entry (its master entry), its listpack's size.
        self.master = master
        self.master_fields = master_fields or []
        self.listpack_bytes = _LISTPACK_EMPTY
        if master_fields is not None:
            self.listpack_bytes += (
                _lp_int(1)
                + _lp_int(0)
                + _lp_int(len(master_fields))
                + sum(map(_lp_element, master_fields))
                + _lp_int(0)
            )

    def listpack_entry(self, stream_id: int, items: list[bytes]) -> int:
        """The bytes the entry adds to Redis's listpack node."""
        fields = items[0::2]
        same = fields == self.master_fields
        size = (
            _lp_int(_SAMEFIELDS if same else 0)
            + _lp_int(_signed((stream_id >> 64) - (self.master >> 64)))
            + _lp_int(_signed((stream_id & SEQ_MASK) - (self.master & SEQ_MASK)))
            + sum(map(_lp_element, items[1::2]))
        )
        pairs = len(fields)
        if not same:
            size += _lp_int(pairs) + sum(map(_lp_element, fields))
        return size + _lp_int(pairs + 3 + (0 if same else pairs + 1))

    def __len__(self) -> int:
        return len(self.starts)

    def id_at(self, index: int) -> int:
        ids = self.ids
        return (ids[2 * index] << 64) | ids[2 * index + 1]

    def items_at(self, index: int) -> list[bytes]:
        return _unpack_entry(self.data, self.starts[index])

    def entry_bytes(self, index: int) -> int:
        end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.data)
        return end - self.starts[index]

    def find(self, stream_id: int) -> int:
        """The index of the first entry with an ID >= stream_id (len if none)."""
        low, high = 0, len(self.starts)
        while low < high:
            middle = (low + high) // 2
            if self.id_at(middle) < stream_id:
                low = middle + 1
            else:
                high = middle
        return low

    def append(self, stream_id: int, items: list[bytes]) -> int:
        """Add an entry at the end; the bytes its fields and values take."""
        self.listpack_bytes += self.listpack_entry(stream_id, items)
        self.ids.append(stream_id >> 64)
        self.ids.append(stream_id & SEQ_MASK)
        before = len(self.data)
        self.starts.append(before)
        pack_entry(items, self.data)
        return len(self.data) - before

    def bury(self, stream_id: int, items: list[bytes]) -> None:
        """Keep a removed entry as a tombstone."""
        if self.graves is None:
            self.graves = Block()
        graves = self.graves
        graves.ids.append(stream_id >> 64)
        graves.ids.append(stream_id & SEQ_MASK)
        graves.starts.append(len(graves.data))
        pack_entry(items, graves.data)
        self.grave_high = max(self.grave_high, stream_id)

    def last_id(self) -> int:
        """The ID of the block's last entry, deleted or not (lpGetEdgeStreamID's): what
        Redis's MINID trim compares to decide whether the whole node can go."""
        last = self.id_at(len(self.starts) - 1) if len(self.starts) else 0
        return max(last, self.grave_high)

    def tombstones(self) -> list[tuple[int, list[bytes]]]:
        graves = self.graves
        if graves is None:
            return []
        return sorted((graves.id_at(index), graves.items_at(index)) for index in range(len(graves)))

    def remove(self, indexes: list[int]) -> int:
        """Drop the entries at `indexes` (sorted), kept as tombstones; the bytes they took."""
        drop = set(indexes)
        for index in indexes:
            self.bury(self.id_at(index), self.items_at(index))
        ids = array("Q")
        starts = array("I")
        data = bytearray()
        for index in range(len(self.starts)):
            if index in drop:
                continue
            ids.append(self.ids[2 * index])
            ids.append(self.ids[2 * index + 1])
            starts.append(len(data))
            begin = self.starts[index]
            data += self.data[begin : begin + self.entry_bytes(index)]
        freed = len(self.data) - len(data)
        self.ids, self.starts, self.data = ids, starts, data
        self.deleted += len(drop)
        return freed


class Consumer:
    __slots__ = ("name", "pending", "seen_time")

    def __init__(self, name: bytes, seen_time: int) -> None:
        self.name = name
        self.seen_time = seen_time
        self.pending: set[int] = set()  # IDs of its entries in the group's PEL

    def pending_sorted(self) -> list[int]:
        return sorted(self.pending)


class Nack:
    """A pending entry: delivered to `consumer`, not acknowledged yet."""

    __slots__ = ("consumer", "delivery_count", "delivery_time")

    def __init__(self, consumer: Consumer, delivery_time: int, delivery_count: int) -> None:
        self.consumer = consumer
        self.delivery_time = delivery_time
        self.delivery_count = delivery_count


class Group:
    __slots__ = ("consumers", "entries_read", "last_id", "name", "pel", "pel_ids")

    def __init__(self, name: bytes, last_id: int, entries_read: int) -> None:
        self.name = name
        self.last_id = last_id
        self.entries_read = entries_read
        self.pel: dict[int, Nack] = {}
        self.pel_ids: list[int] = []  # the PEL's IDs in order
        self.consumers: dict[bytes, Consumer] = {}

    def consumers_sorted(self) -> list[Consumer]:
        # Redis keeps consumers in a radix tree: replies list them by name.
        return [self.consumers[name] for name in sorted(self.consumers)]

    def add_pending(self, stream_id: int, nack: Nack) -> None:
        if stream_id not in self.pel:
            insort(self.pel_ids, stream_id)
        self.pel[stream_id] = nack
        nack.consumer.pending.add(stream_id)

    def remove_pending(self, stream_id: int) -> Nack | None:
        nack = self.pel.pop(stream_id, None)
        if nack is None:
            return None
        index = bisect_left(self.pel_ids, stream_id)
        del self.pel_ids[index]
        nack.consumer.pending.discard(stream_id)
        return nack

    def pending_from(self, start: int, end: int) -> Iterator[int]:
        """The PEL's IDs from start to end inclusive, in order."""
        ids = self.pel_ids
        index = bisect_left(ids, start)
        while index < len(ids) and ids[index] <= end:
            yield ids[index]
            index += 1


class StreamValue(Container):
    """A Redis stream: entries in blocks, and its consumer groups."""

    __slots__ = (
        "_bytes",
        "_firsts",
        "blocks",
        "entries_added",
        "first_id",
        "groups",
        "last_id",
        "length",
        "max_deleted_id",
    )
    TYPE_NAME = b"stream"

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[Block] = []
        self._firsts: list[int] = []  # each block's _key() (its first live ID, mostly)
        self.length = 0
        self.last_id = 0
        self.first_id = 0
        self.max_deleted_id = 0
        self.entries_added = 0
        self.groups: dict[bytes, Group] = {}
        self._bytes = 0  # field and value bytes, and the per-entry and per-block estimates

    def __len__(self) -> int:
        return self.length

    @property
    def mem(self) -> int:
        return STREAM_OVERHEAD + self._bytes

    def encoding(self) -> bytes:
        return b"stream"

    def groups_sorted(self) -> list[Group]:
        return [self.groups[name] for name in sorted(self.groups)]

    # ------------------------------------------------------------------ entries

    def append(
        self,
        stream_id: int,
        items: list[bytes],
        max_entries: int = NODE_MAX_ENTRIES,
        max_bytes: int = NODE_MAX_BYTES,
    ) -> None:
        """Add an entry; a new block starts where Redis starts a new node, by
        stream-node-max-bytes (0: a listpack's limit) and -max-entries (0: none)."""
        if not max_bytes or max_bytes > LISTPACK_MAX_SIZE:
            max_bytes = LISTPACK_MAX_SIZE
        blocks = self.blocks
        if (
            not blocks
            or blocks[-1].listpack_bytes + sum(map(len, items)) >= max_bytes
            or (max_entries and len(blocks[-1]) + blocks[-1].deleted >= max_entries)
        ):
            blocks.append(Block(stream_id, items[0::2]))
            self._firsts.append(stream_id)
        if not len(blocks[-1]):  # a new block, or a kept block of tombstones only
            self._bytes += BLOCK_OVERHEAD
        self._bytes += blocks[-1].append(stream_id, items) + ENTRY_OVERHEAD
        self.length += 1
        self.entries_added += 1
        self.last_id = stream_id
        if self.length == 1:
            self.first_id = stream_id

    def add_block(self, block: Block) -> None:
        """Append a whole block (a loaded node) whose entries follow the stream's; the
        caller sets the stream's IDs and counters."""
        self.blocks.append(block)
        self._firsts.append(self._key(len(self.blocks) - 1))
        self._bytes += _block_bytes(block)
        self.length += len(block)

    def _locate(self, stream_id: int) -> tuple[int, int]:
        """(block, index) of the first entry with an ID >= stream_id; (len, 0) if none."""
        block_index = max(bisect_right(self._firsts, stream_id) - 1, 0)
        blocks = self.blocks
        while block_index < len(blocks):
            index = blocks[block_index].find(stream_id)
            if index < len(blocks[block_index]):
                return block_index, index
            block_index += 1
        return len(blocks), 0

    def get(self, stream_id: int) -> list[bytes] | None:
        block_index, index = self._locate(stream_id)
        if block_index == len(self.blocks):
            return None
        block = self.blocks[block_index]
        if block.id_at(index) != stream_id:
            return None
        return block.items_at(index)

    def contains(self, stream_id: int) -> bool:
        block_index, index = self._locate(stream_id)
        return block_index < len(self.blocks) and self.blocks[block_index].id_at(index) == stream_id

    def range(
        self, start: int, end: int, count: int | None = None, rev: bool = False
    ) -> list[tuple[int, list[bytes]]]:
        """Entries with start <= ID <= end, in order (or in reverse), at most `count`."""
        out: list[tuple[int, list[bytes]]] = []
        if start > end or not self.length or (count is not None and count <= 0):
            return out
        for stream_id, block, index in self._walk(start, end, rev):
            out.append((stream_id, block.items_at(index)))
            if count is not None and len(out) >= count:
                break
        return out

    def ids_in(self, start: int, end: int, count: int) -> list[int]:
        out: list[int] = []
        for stream_id, _block, _index in self._walk(start, end, False):
            if len(out) >= count:
                break
            out.append(stream_id)
        return out

    def _walk(self, start: int, end: int, rev: bool) -> Iterator[tuple[int, Block, int]]:
        blocks = self.blocks
        if not rev:
            block_index, index = self._locate(start)
            while block_index < len(blocks):
                block = blocks[block_index]
                while index < len(block):
                    stream_id = block.id_at(index)
                    if stream_id > end:
                        return
                    yield stream_id, block, index
                    index += 1
                block_index += 1
                index = 0
        else:
            block_index = bisect_right(self._firsts, end) - 1
            if block_index < 0:
                return
            block = blocks[block_index]
            index = block.find(end + 1) - 1 if end < MAX_ID else len(block) - 1
            while block_index >= 0:
                block = blocks[block_index]
                while index >= 0:
                    stream_id = block.id_at(index)
                    if stream_id < start:
                        return
                    yield stream_id, block, index
                    index -= 1
                block_index -= 1
                if block_index >= 0:
                    index = len(blocks[block_index]) - 1

    def _key(self, block_index: int) -> int:
        """The block's bisection key (see the module's docstring): any value above the
        live IDs of the blocks before it and not above its own or later ones' will do."""
        block = self.blocks[block_index]
        if len(block):
            return block.id_at(0)
        for earlier in range(block_index - 1, -1, -1):  # trims empty the head: none
            before = self.blocks[earlier]
            if len(before):
                return before.id_at(len(before) - 1) + 1
        return 0

    def first_entry_id(self) -> int:
        """The ID of the first live entry (0 when empty). Blocks of tombstones only are
        stepped over: trims leave one at the head, a restored payload may hold more."""
        if self.length:
            for block in self.blocks:
                if len(block):
                    return block.id_at(0)
        return 0

    def last_entry_id(self) -> int:
        """The ID of the last live entry (0 when empty), as streamLastValidID reads it."""
        if self.length:
            for block in reversed(self.blocks):
                if len(block):
                    return block.id_at(len(block) - 1)
        return 0

    def delete(self, stream_ids: Iterable[int]) -> int:
        """XDEL: remove the entries with these IDs; how many were there."""
        removed = 0
        for stream_id in stream_ids:
            block_index, index = self._locate(stream_id)
            if block_index == len(self.blocks):
                continue
            block = self.blocks[block_index]
            if block.id_at(index) != stream_id:
                continue
            self._remove_from(block_index, [index])
            removed += 1
            if stream_id > self.max_deleted_id:
                self.max_deleted_id = stream_id
        if removed:
            self._refresh_first()
        return removed

    def _remove_from(self, block_index: int, indexes: list[int], keep_empty: bool = False) -> None:
        """Drop entries of a block, kept as its tombstones. XDEL drops a block with its
        last live entry (streamIteratorRemoveEntry frees the node); a trim keeps it
        (`keep_empty`: streamTrim only flags the entries)."""
        block = self.blocks[block_index]
        self._bytes -= block.remove(indexes) + ENTRY_OVERHEAD * len(indexes)
        self.length -= len(indexes)
        if not len(block):
            self._bytes -= BLOCK_OVERHEAD
        if not len(block) and not keep_empty:
            del self.blocks[block_index]
            del self._firsts[block_index]
        else:
            self._firsts[block_index] = self._key(block_index)

    def _refresh_first(self) -> None:
        self.first_id = self.first_entry_id()

    def trim(self, maxlen: int | None, minid: int | None, approx: bool, limit: int) -> int:
        """Redis 7.0's streamTrim: from the head, drop whole blocks while the stream is
        longer than `maxlen` (MAXLEN: the stream without the block is still as long) or
        while a block's last entry, deleted or not, is below `minid` (MINID); then, unless
        `approx`, flag the head block's first live entries as deleted (as many as MAXLEN
        asks, or those below `minid`) and stop. `limit` (0: none) bounds the live entries
        whole blocks may take. A block left with tombstones only stays, as Redis's node
        does. Returns how many live entries went."""
        if maxlen is None and minid is None:
            return 0  # no strategy (TRIM_STRATEGY_NONE)
        deleted = 0
        blocks = self.blocks
        # Each pass drops the head block or ends the loop: at most len(blocks) passes.
        while blocks:
            if maxlen is not None and self.length <= maxlen:
                break
            block = blocks[0]
            entries = len(block)
            if limit and deleted + entries > limit:
                break
            if maxlen is not None:
                remove_block = self.length - entries >= maxlen
            else:
                remove_block = block.last_id() < _minid(minid)
            if remove_block:
                self._bytes -= _block_bytes(block)
                del blocks[0]
                del self._firsts[0]
                self.length -= entries
                deleted += entries
                continue
            if approx:
                break
            # MAXLEN: fewer than the block's live entries (it was not removed whole).
            # MINID: the live entries below it; Redis stops at the first entry at or
            # above it, deleted or not, and the entries are in ID order.
            take = self.length - maxlen if maxlen is not None else block.find(_minid(minid))
            if take > 0:
                self._remove_from(0, list(range(take)), keep_empty=True)
                deleted += take
            break
        # As streamTrim ends: the first ID is 0-0 in an empty stream, and read again only
        # when entries went (a restored payload's recorded first ID stays otherwise).
        if not self.length:
            self.first_id = 0
        elif deleted:
            self._refresh_first()
        return deleted

    # ------------------------------------------------------------------ groups

    def create_group(self, name: bytes, last_id: int, entries_read: int) -> Group:
        group = Group(name, last_id, entries_read)
        self.groups[name] = group
        self._bytes += GROUP_OVERHEAD + len(name)
        return group

    def destroy_group(self, name: bytes) -> bool:
        group = self.groups.pop(name, None)
        if group is None:
            return False
        self._bytes -= GROUP_OVERHEAD + len(name)
        self._bytes -= sum(CONSUMER_OVERHEAD + len(c) for c in group.consumers)
        self._bytes -= NACK_OVERHEAD * len(group.pel)
        return True

    def create_consumer(self, group: Group, name: bytes, now_ms: int) -> Consumer:
        consumer = Consumer(name, now_ms)
        group.consumers[name] = consumer
        self._bytes += CONSUMER_OVERHEAD + len(name)
        return consumer

    def delete_consumer(self, group: Group, consumer: Consumer) -> int:
        """Remove a consumer and its pending entries; how many it had."""
        pending = consumer.pending_sorted()
        for stream_id in pending:
            group.remove_pending(stream_id)
        del group.consumers[consumer.name]
        self._bytes -= CONSUMER_OVERHEAD + len(consumer.name) + NACK_OVERHEAD * len(pending)
        return len(pending)

    def add_pending(self, group: Group, stream_id: int, nack: Nack) -> None:
        if stream_id not in group.pel:
            self._bytes += NACK_OVERHEAD
        else:
            group.pel[stream_id].consumer.pending.discard(stream_id)
        group.add_pending(stream_id, nack)

    def remove_pending(self, group: Group, stream_id: int) -> bool:
        if group.remove_pending(stream_id) is None:
            return False
        self._bytes -= NACK_OVERHEAD
        return True

    def move_pending(self, group: Group, stream_id: int, consumer: Consumer) -> Nack:
        nack = group.pel[stream_id]
        nack.consumer.pending.discard(stream_id)
        nack.consumer = consumer
        consumer.pending.add(stream_id)
        return nack

    # ------------------------------------------------------------------ whole value

    def copy(self) -> StreamValue:
        return StreamValue.from_snapshot_items(EngineConfig(), self.snapshot_items())

    def snapshot_items(self) -> list[bytes]:
        """Pieces: a header (length, last, first, max deleted, entries added, block and
        group counts), per block its IDs, starts, data and deleted count, per group its
        header, then per consumer its name and pending IDs with their deliveries."""
        pieces: list[bytes] = [
            struct.pack(
                "<QQQQQQQQQQ",
                self.length,
                self.last_id >> 64,
                self.last_id & SEQ_MASK,
                self.first_id >> 64,
                self.first_id & SEQ_MASK,
                self.max_deleted_id >> 64,
                self.max_deleted_id & SEQ_MASK,
                self.entries_added,
                len(self.blocks),
                len(self.groups),
            )
        ]
        for block in self.blocks:
            header = bytearray(
                _BLOCK.pack(
                    block.deleted, block.listpack_bytes, block.master >> 64, block.master & SEQ_MASK
                )
            )
            pack_entry(block.master_fields, header)
            tombstones = block.tombstones()
            if tombstones:  # absent from snapshots written before tombstones were kept
                _varint(len(tombstones), header)
                for stream_id, items in tombstones:
                    _varint(stream_id >> 64, header)
                    _varint(stream_id & SEQ_MASK, header)
                    pack_entry(items, header)
            pieces.append(bytes(header))
            pieces.append(block.ids.tobytes())
            pieces.append(block.starts.tobytes())
            pieces.append(bytes(block.data))
        for group in self.groups_sorted():
            pieces.append(group.name)
            pieces.append(
                struct.pack(
                    "<QQqQ",
                    group.last_id >> 64,
                    group.last_id & SEQ_MASK,
                    group.entries_read,
                    len(group.consumers),
                )
            )
            for consumer in group.consumers_sorted():
                pieces.append(consumer.name)
                pending = [_NACK.pack(0, 0, consumer.seen_time, 0)]
                for stream_id in consumer.pending_sorted():
                    nack = group.pel[stream_id]
                    pending.append(
                        _NACK.pack(
                            stream_id >> 64,
                            stream_id & SEQ_MASK,
                            nack.delivery_time,
                            nack.delivery_count,
                        )
                    )
                pieces.append(b"".join(pending))
        return pieces

    @classmethod
    def from_snapshot_items(
        cls, config: EngineConfig, items: Iterable[Any], encoding: bytes | None = None
    ) -> StreamValue:
        """The stream of snapshot_items' pieces; ValueError when they are not one."""
        try:
            return cls._from_pieces(iter(items))
        except (struct.error, StopIteration, IndexError, KeyError, OverflowError) as error:
            raise ValueError(f"malformed stream pieces: {error!r}") from error

    @classmethod
    def _from_pieces(cls, pieces: Iterator[Any]) -> StreamValue:
        stream = cls()
        header = struct.unpack("<QQQQQQQQQQ", next(pieces))
        stream.length = header[0]
        stream.last_id = make_id(header[1], header[2])
        stream.first_id = make_id(header[3], header[4])
        stream.max_deleted_id = make_id(header[5], header[6])
        stream.entries_added = header[7]
        length = 0
        for _ in range(header[8]):
            block_header = next(pieces)
            deleted, listpack_bytes, master_ms, master_seq = _BLOCK.unpack_from(block_header)
            block = Block(make_id(master_ms, master_seq))
            header_bytes = bytearray(block_header)
            block.master_fields, position = _unpack_entry_end(header_bytes, _BLOCK.size)
            if position < len(header_bytes):
                count, position = _varint_at(header_bytes, position)
                for _ in range(count):
                    ms, position = _varint_at(header_bytes, position)
                    seq, position = _varint_at(header_bytes, position)
                    items, position = _unpack_entry_end(header_bytes, position)
                    block.bury(make_id(ms, seq), items)
                if position != len(header_bytes):
                    raise ValueError("stream block header has bytes left over")
            block.deleted = deleted
            block.listpack_bytes = listpack_bytes
            block.ids.frombytes(next(pieces))
            block.starts.frombytes(next(pieces))
            block.data = bytearray(next(pieces))
            if len(block.ids) != 2 * len(block.starts):
                raise ValueError("stream block IDs and entries disagree")
            if not len(block) and block.graves is None:
                # A block without live entries is one of tombstones only (a trim's).
                raise ValueError("stream block without entries")
            stream.blocks.append(block)
            stream._firsts.append(stream._key(len(stream.blocks) - 1))
            stream._bytes += _block_bytes(block)
            length += len(block)
        if length != stream.length:
            raise ValueError("stream length disagrees with its entries")
        for _ in range(header[9]):
            name = bytes(next(pieces))
            last_ms, last_seq, entries_read, consumer_count = struct.unpack("<QQqQ", next(pieces))
            group = stream.create_group(name, make_id(last_ms, last_seq), entries_read)
            for _ in range(consumer_count):
                consumer_name = bytes(next(pieces))
                blob = next(pieces)
                records = list(_NACK.iter_unpack(blob))
                consumer = stream.create_consumer(group, consumer_name, records[0][2])
                for ms, seq, delivery_time, delivery_count in records[1:]:
                    nack = Nack(consumer, delivery_time, delivery_count)
                    stream.add_pending(group, make_id(ms, seq), nack)
        if next(pieces, None) is not None:
            raise ValueError("stream snapshot has pieces left over")
        return stream


def _block_bytes(block: Block) -> int:
    """A block's part of a stream's `mem`: nothing for one of tombstones only."""
    if not len(block):
        return 0
    return BLOCK_OVERHEAD + len(block.data) + ENTRY_OVERHEAD * len(block)


def _minid(minid: int | None) -> int:
    """A MINID trim's threshold (trim returns before its loop when there is none)."""
    return 0 if minid is None else minid


def estimate_read(stream: StreamValue, stream_id: int) -> int:
    """streamEstimateDistanceFromFirstEverEntry."""
    if not stream.entries_added:
        return 0
    if not stream.length and stream_id <= stream.last_id:
        return stream.entries_added
    if stream_id == stream.last_id:
        return stream.entries_added
    if stream_id > stream.last_id:
        return INVALID_ENTRIES_READ
    if not stream.max_deleted_id or stream.max_deleted_id < stream.first_id:
        if stream_id < stream.first_id:
            return stream.entries_added - stream.length
        if stream_id == stream.first_id:
            return stream.entries_added - stream.length + 1
    return INVALID_ENTRIES_READ

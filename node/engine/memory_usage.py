"""MEMORY USAGE as Redis 7.0 computes it (object.c objectComputeSize, with jemalloc's
size classes): what the value's structures would take in redis-server, plus the key's
sds and its dictEntry. Exact for strings, listpacks, intsets and lists of small nodes;
for hash tables and skiplists Redis's own figure depends on its table's rehashing and
its nodes' random levels, so those are estimated (tables at their settled size, nodes
of one level). This is the figure MEMORY USAGE reports, not the key space's accounting
(Keyspace.used_memory), which maxmemory compares."""

from __future__ import annotations

from itertools import islice
from typing import Any

from node.engine.hash_value import HashValue
from node.engine.list_value import ListValue
from node.engine.set_value import SetValue
from node.engine.stream_rdb import block_listpack
from node.engine.stream_value import Block, StreamValue
from node.engine.zset_value import ZSetValue, score_text
from proto.rdb import intset, listpack, values

ROBJ = 16
DICT_ENTRY = 24
DICT = 56
QUICKLIST = 40
QUICKLIST_NODE = 40
ZSET = 16
ZSKIPLIST = 32
ZSKIPLIST_HEADER = 24 + 32 * 16  # ele, score, backward, then 32 levels
ZSKIPLIST_NODE = 24 + 16  # one level
EMBSTR_LIMIT = 44
# Redis 7.0's stream structures (64-bit): stream, streamCG, streamNACK, streamConsumer, rax,
# and what streamRadixTreeMemoryUsage counts per radix-tree element (a streamID) and node
# (a raxNode header plus its fixed overhead of 30 longs).
STREAM = 80
STREAM_GROUP = 40
STREAM_NACK = 24
STREAM_CONSUMER = 24
RAX = 24
RAX_ELEMENT = 16
RAX_NODE = 4 + 8 * 30
STREAM_PREALLOCATED = 4096  # STREAM_LISTPACK_MAX_PRE_ALLOCATE: a new node's listpack
DEFAULT_SAMPLES = 5


def malloc_size(size: int) -> int:
    """jemalloc's size class for a request of `size` bytes: 8, then steps of 16 up to
    128, then four classes per doubling."""
    if size <= 8:
        return 8
    if size <= 128:
        return (size + 15) // 16 * 16
    spacing = 1 << ((size - 1).bit_length() - 3)
    return (size + spacing - 1) // spacing * spacing


def sds_size(length: int) -> int:
    """sdsZmallocSize of an sds made for `length` bytes (its header by length, the NUL)."""
    if length < 32:
        header = 1
    elif length < 256:
        header = 3
    elif length < 65536:
        header = 5
    else:
        header = 9
    return malloc_size(header + length + 1)


def _string_size(value: bytes | bytearray) -> int:
    if type(value) is bytes and listpack.string_to_int(value) is not None:
        return ROBJ  # int encoding
    if type(value) is bytes and len(value) <= EMBSTR_LIMIT:
        return malloc_size(ROBJ + 3 + len(value) + 1)  # embstr: robj and sdshdr8 together
    return ROBJ + sds_size(len(value))


def _table_slots(used: int) -> int:
    """A dict's slots once settled: the power of two at or above what it holds (4 least)."""
    slots = 4
    while slots < used:
        slots *= 2
    return slots


def _average(total: int, samples: int, count: int) -> int:
    return int(total / samples * count) if samples else 0


def value_usage(value: Any, samples: int) -> int:
    """objectComputeSize(value, samples); `samples` 0 means every element."""
    limit = samples if samples > 0 else None
    if type(value) is bytes or type(value) is bytearray:
        return _string_size(value)
    if isinstance(value, ListValue):
        nodes = values.list_nodes(list(value), value.node_counts())
        sampled = list(islice(nodes, limit))
        total = sum(QUICKLIST_NODE + malloc_size(len(listpack.encode(n))) for n in sampled)
        return ROBJ + QUICKLIST + _average(total, len(sampled), len(nodes))
    if isinstance(value, SetValue):
        if value.is_intset:
            return ROBJ + malloc_size(len(intset.encode([int(m) for m in value])))
        members = list(islice(value.members(), limit))
        total = sum(DICT_ENTRY + sds_size(len(member)) for member in members)
        base = ROBJ + DICT + 8 * _table_slots(len(value))
        return base + _average(total, len(members), len(value))
    if isinstance(value, HashValue):
        if value.is_listpack:
            flat = [part for pair in value.items() for part in pair]
            return ROBJ + malloc_size(len(listpack.encode(flat)))
        pairs = list(islice(value.items(), limit))
        total = sum(DICT_ENTRY + sds_size(len(f)) + sds_size(len(v)) for f, v in pairs)
        base = ROBJ + DICT + 8 * _table_slots(len(value))
        return base + _average(total, len(pairs), len(value))
    if isinstance(value, StreamValue):
        return _stream_size(value, limit)
    assert isinstance(value, ZSetValue)
    if value.is_listpack:
        flat = [part for member, score in value for part in (member, score_text(score))]
        return ROBJ + malloc_size(len(listpack.encode(flat)))
    entries = list(islice(value, limit))
    total = sum(
        sds_size(len(member)) + DICT_ENTRY + malloc_size(ZSKIPLIST_NODE) for member, _ in entries
    )
    base = ROBJ + ZSET + ZSKIPLIST + DICT + 8 * _table_slots(len(value))
    base += malloc_size(ZSKIPLIST_HEADER)
    return base + _average(total, len(entries), len(value))


def _radix_tree_size(elements: int) -> int:
    """streamRadixTreeMemoryUsage. Redis counts the tree's real nodes; ours is not a
    radix tree, so its nodes are estimated: a leaf per element, and an inner node for
    every two (stream IDs share long prefixes)."""
    nodes = elements + (elements + 1) // 2 if elements else 1
    return elements * RAX_ELEMENT + nodes * RAX_NODE


def _last_node_size(block: Block) -> int:
    """The last node's listpack was allocated with room to grow: measured by its
    allocation."""
    return malloc_size(max(len(block_listpack(block)), STREAM_PREALLOCATED))


def _stream_size(value: StreamValue, limit: int | None) -> int:
    """objectComputeSize of a stream: its radix tree, its listpacks (the first `limit`
    measured, the rest but the last taken as their average, the last measured), and
    its consumer groups' PELs and consumers. An estimate, as Redis's own is."""
    blocks = value.blocks
    size = ROBJ + STREAM + _radix_tree_size(len(blocks))
    sampled = [malloc_size(len(block_listpack(block))) for block in islice(blocks, limit)]
    if sampled and len(blocks) <= len(sampled):
        size += sum(sampled[:-1]) + _last_node_size(blocks[-1])
    elif sampled:
        size += sum(sampled) // len(sampled) * (len(blocks) - 1)
        size += _last_node_size(blocks[-1])
    if value.groups:
        size += RAX + _radix_tree_size(len(value.groups))
        for group in value.groups.values():
            size += STREAM_GROUP + _radix_tree_size(len(group.pel))
            size += STREAM_NACK * len(group.pel)
            size += RAX + _radix_tree_size(len(group.consumers))
            for consumer in group.consumers.values():
                size += STREAM_CONSUMER + len(consumer.name)
                size += _radix_tree_size(len(consumer.pending))
    return size


def memory_usage(key: bytes, value: Any, samples: int = DEFAULT_SAMPLES) -> int:
    """MEMORY USAGE key [SAMPLES n]: the value, the key's sds and its dictEntry."""
    return value_usage(value, samples) + sds_size(len(key)) + DICT_ENTRY


def usage_work(value: Any) -> int:
    """The elements looked at: a listpack or a list's nodes are encoded in full."""
    if type(value) is bytes or type(value) is bytearray:
        return 1
    return len(value)

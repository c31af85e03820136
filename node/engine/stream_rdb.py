"""A StreamValue to and from proto.rdb.stream's neutral form (DUMP and RESTORE).

The engine's blocks are Redis's listpack nodes (same master ID, master fields and
boundaries, and the entries removed from them kept as tombstones), so a stream dumps
byte for byte as redis-server's. Loading keeps the node's listpack size, so that later
XADDs start new blocks where Redis would, and keeps a node of tombstones only (XTRIM
MINID leaves one) as a block of its own, as Redis keeps it in its radix tree."""

from __future__ import annotations

from node.engine.stream_value import Block, Nack, StreamValue, estimate_read
from proto.rdb.stream import StreamData, StreamGroup, StreamNode, node_listpack

_U64_MAX = (1 << 64) - 1


def _node(block: Block) -> StreamNode:
    return StreamNode(
        block.master,
        block.master_fields,
        [(block.id_at(index), block.items_at(index)) for index in range(len(block))],
        block.tombstones(),
    )


def block_listpack(block: Block) -> bytes:
    """The listpack Redis keeps for this block (MEMORY USAGE measures it)."""
    return node_listpack(_node(block))


def to_rdb(stream: StreamValue) -> StreamData:
    nodes = [_node(block) for block in stream.blocks]
    groups = []
    for group in stream.groups_sorted():
        pel = [
            (stream_id, group.pel[stream_id].delivery_time, group.pel[stream_id].delivery_count)
            for stream_id in group.pel_ids
        ]
        consumers = [
            (consumer.name, consumer.seen_time, consumer.pending_sorted())
            for consumer in group.consumers_sorted()
        ]
        groups.append(StreamGroup(group.name, group.last_id, group.entries_read, pel, consumers))
    return StreamData(
        nodes,
        stream.length,
        stream.last_id,
        stream.first_id,
        stream.max_deleted_id,
        stream.entries_added,
        groups,
    )


def from_rdb(data: StreamData) -> StreamValue:
    """The stream of a decoded payload (already validated by proto.rdb.stream)."""
    stream = StreamValue()
    for node in data.nodes:
        block = Block(node.master, node.master_fields)
        for stream_id, items in node.entries:
            block.append(stream_id, items)
        for stream_id, items in node.tombstones:
            block.bury(stream_id, items)
        block.deleted = len(node.tombstones)
        block.listpack_bytes = node.size
        stream.add_block(block)
    stream.last_id = data.last_id
    stream.max_deleted_id = data.max_deleted_id
    if data.first_id is not None:
        stream.first_id = data.first_id
    elif stream.length:
        stream.first_id = stream.first_entry_id()
    else:
        # streamGetEdgeID of an empty stream, as Redis loads a type 15 payload.
        stream.first_id = (_U64_MAX << 64) | _U64_MAX
    stream.entries_added = stream.length if data.entries_added is None else data.entries_added
    for group_data in data.groups:
        entries_read = group_data.entries_read
        if entries_read is None:
            entries_read = estimate_read(stream, group_data.last_id)
        group = stream.create_group(group_data.name, group_data.last_id, entries_read)
        times = {stream_id: (time, count) for stream_id, time, count in group_data.pel}
        for name, seen_time, pending in group_data.consumers:
            consumer = stream.create_consumer(group, name, seen_time)
            for stream_id in pending:
                delivery_time, delivery_count = times[stream_id]
                stream.add_pending(group, stream_id, Nack(consumer, delivery_time, delivery_count))
    return stream

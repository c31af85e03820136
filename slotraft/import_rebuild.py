"""Writing a value too large for one RESTORE (past the nodes' max-command-work): the
payload is decoded here and the value written with its type's commands, in chunks that
each fit (DEL, then SET, RPUSH, SADD, HSET or ZADD, then its expiry). Not atomic: a
reader may see the key half-written while it is copied, which an import allows.

A stream is written with XADD (one entry each, its ID kept), XSETID (last ID, entries
added, max deleted ID), XGROUP CREATE with ENTRIESREAD and CREATECONSUMER, and its
pending entries with XCLAIM FORCE TIME RETRYCOUNT (delivery time and count kept). What
commands cannot set is lost: the consumers' seen times (the time of the copy), the
first ID recorded when the first entries were deleted, and the nodes' tombstones. A
pending entry whose stream entry was deleted cannot be claimed: such a stream, and an
empty one, are refused with the reason."""

from __future__ import annotations

from typing import Any

import redis

from proto.rdb import values
from proto.rdb.stream import StreamData

CHUNK = 500  # elements per command: far below max-command-work


def _chunks(items: list[Any]) -> list[list[Any]]:
    return [items[start : start + CHUNK] for start in range(0, len(items), CHUNK)]


def rebuild(
    target: redis.Redis, key: bytes, ttl: int, payload: bytes, absolute: bool, replace: bool
) -> str | None:
    """Write the payload's value under `key`; None when done, else why not (the key
    exists and `replace` is off, or a command's error). FormatError if unreadable."""
    decoded = values.read_payload(payload)
    if decoded.kind == b"stream":
        refusal = _stream_refusal(decoded.items)
        if refusal:
            return refusal
    if not replace and target.exists(key):
        return "exists on the target (--replace overwrites)"
    pipe = target.pipeline(transaction=False)
    pipe.delete(key)
    kind, items = decoded.kind, decoded.items
    if kind == b"string":
        pipe.set(key, items)
    elif kind == b"list":
        for chunk in _chunks(items):
            pipe.rpush(key, *chunk)
    elif kind == b"set":
        for chunk in _chunks(items):
            pipe.sadd(key, *chunk)
    elif kind == b"hash":
        for chunk in _chunks(items):
            pipe.execute_command("HSET", key, *[part for pair in chunk for part in pair])
    elif kind == b"zset":
        for chunk in _chunks(items):
            flat = [part for member, score in chunk for part in (repr(score), member)]
            pipe.execute_command("ZADD", key, *flat)
    else:
        _stream_commands(pipe, key, items)
    if ttl:
        pipe.execute_command("PEXPIREAT" if absolute else "PEXPIRE", key, ttl)
    for reply in pipe.execute(raise_on_error=False):
        if isinstance(reply, Exception):
            return f"rebuilding with commands: {reply}"
    return None


def _id(stream_id: int) -> bytes:
    return b"%d-%d" % (stream_id >> 64, stream_id & ((1 << 64) - 1))


def _stream_refusal(data: StreamData) -> str | None:
    if not data.length:
        return "an empty stream too large for one RESTORE cannot be rebuilt with commands"
    live = {stream_id for node in data.nodes for stream_id, _ in node.entries}
    for group in data.groups:
        if any(stream_id not in live for stream_id, _, _ in group.pel):
            return (
                "a stream too large for one RESTORE whose pending entries include deleted "
                "entries cannot be rebuilt with commands (XCLAIM claims existing entries only)"
            )
    return None


def _stream_commands(pipe: Any, key: bytes, data: StreamData) -> None:
    for node in data.nodes:
        for stream_id, items in node.entries:
            pipe.execute_command("XADD", key, _id(stream_id), *items)
    entries_added = data.length if data.entries_added is None else data.entries_added
    pipe.execute_command(
        "XSETID",
        key,
        _id(data.last_id),
        "ENTRIESADDED",
        entries_added,
        "MAXDELETEDID",
        _id(data.max_deleted_id),
    )
    for group in data.groups:
        read = [] if group.entries_read is None else ["ENTRIESREAD", group.entries_read]
        pipe.execute_command("XGROUP", "CREATE", key, group.name, _id(group.last_id), *read)
        deliveries = {stream_id: (time, count) for stream_id, time, count in group.pel}
        for name, _seen, pending in group.consumers:
            pipe.execute_command("XGROUP", "CREATECONSUMER", key, group.name, name)
            for stream_id in pending:
                time, count = deliveries[stream_id]
                pipe.execute_command(
                    "XCLAIM",
                    key,
                    group.name,
                    name,
                    0,
                    _id(stream_id),
                    "TIME",
                    time,
                    "RETRYCOUNT",
                    count,
                    "FORCE",
                    "JUSTID",
                    parse_justid=True,  # redis-py's XCLAIM reply parser: IDs only
                )

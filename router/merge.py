"""How the replies of a command split over shards, or fanned out to all of them, become
the one reply Redis would have sent. Each merge takes the shards' encoded replies in the
order of the plan's pieces; an error from any piece is the reply (Redis would have
refused or failed the whole command; pieces already applied on other shards stay
applied, which is the price of splitting non-atomic multi-key commands)."""

from __future__ import annotations

import random
from collections.abc import Callable

from router import replies, scan_cursor

Merge = Callable[[list[bytes]], bytes]


def first_error(parts: list[bytes]) -> bytes | None:
    for part in parts:
        if replies.is_error(part):
            return part
    return None


def sum_integers(parts: list[bytes]) -> bytes:
    """DEL, UNLINK, EXISTS, TOUCH, DBSIZE: the counts add up."""
    failed = first_error(parts)
    if failed is not None:
        return failed
    return b":%d\r\n" % sum(replies.integer(part) for part in parts)


def all_ok(parts: list[bytes]) -> bytes:
    """MSET, FLUSHDB, FLUSHALL, SCRIPT FLUSH: +OK when every shard said so; SCRIPT LOAD:
    the digest, the same from every shard."""
    failed = first_error(parts)
    return failed if failed is not None else parts[0]


SHARDS_DISAGREE = (
    b"-ERR the shards' function libraries differ (a FUNCTION command reached only some of "
    b"them): FUNCTION RESTORE a DUMP with the FLUSH policy to make them one again\r\n"
)


def all_equal(parts: list[bytes]) -> bytes:
    """FUNCTION LIST, DUMP, STATS: every shard holds the same libraries (in the same order)
    and so answers the same bytes; shards that differ are an error, not a pick of one."""
    failed = first_error(parts)
    if failed is not None:
        return failed
    if any(part != parts[0] for part in parts[1:]):
        return SHARDS_DISAGREE
    return parts[0]


def all_exist(parts: list[bytes]) -> bytes:
    """SCRIPT EXISTS: 1 for a script only when every shard has it (EVALSHA may go to any)."""
    failed = first_error(parts)
    if failed is not None:
        return failed
    found: list[int] | None = None
    for part in parts:
        items = replies.split_array(part)
        if items is None:
            raise replies.MalformedReply(f"an array was expected, got {part[:40]!r}")
        flags = [replies.integer(item) for item in items]
        found = flags if found is None else [a & b for a, b in zip(found, flags, strict=True)]
    return replies.array([b":%d\r\n" % flag for flag in found or []])


def concat_arrays(parts: list[bytes]) -> bytes:
    """KEYS: every shard's keys, shard after shard."""
    failed = first_error(parts)
    if failed is not None:
        return failed
    elements: list[bytes] = []
    for part in parts:
        items = replies.split_array(part)
        if items is None:
            raise replies.MalformedReply(f"an array was expected, got {part[:40]!r}")
        elements.extend(items)
    return replies.array(elements)


def scatter_positions(positions: list[list[int]], total: int) -> Merge:
    """MGET: piece i answered for the keys at `positions[i]` of the original command (in
    order); the client gets the values in its own order."""

    def merge(parts: list[bytes]) -> bytes:
        failed = first_error(parts)
        if failed is not None:
            return failed
        values: list[bytes] = [b""] * total
        for part, where in zip(parts, positions, strict=True):
            items = replies.split_array(part)
            if items is None or len(items) != len(where):
                raise replies.MalformedReply(f"MGET piece gave {part[:40]!r}")
            for index, item in zip(where, items, strict=True):
                values[index] = item
        return replies.array(values)

    return merge


def scan_page(shard: int, shard_count: int) -> Merge:
    """SCAN on one shard: its keys, and its next cursor turned into the composite one."""

    def merge(parts: list[bytes]) -> bytes:
        (part,) = parts
        items = replies.split_array(part)
        if items is None:
            return part  # an error (bad COUNT, TYPE, ...) goes back as is
        cursor_text = replies.bulk_text(items[0])
        if cursor_text is None or len(items) != 2:
            raise replies.MalformedReply(f"SCAN page {part[:40]!r}")
        following = scan_cursor.next_cursor(shard, int(cursor_text), shard_count)
        text = b"%d" % following
        return b"*2\r\n$%d\r\n%s\r\n%s" % (len(text), text, items[1])

    return merge


def random_key(rng: random.Random) -> Merge:
    """RANDOMKEY: pieces are (DBSIZE, RANDOMKEY) per shard; pick a shard that had a key,
    weighted by its size so that every key stays about equally likely."""

    def merge(parts: list[bytes]) -> bytes:
        failed = first_error(parts)
        if failed is not None:
            return failed
        candidates: list[bytes] = []
        weights: list[int] = []
        for index in range(0, len(parts), 2):
            key_reply = parts[index + 1]
            if replies.bulk_text(key_reply) is not None:
                candidates.append(key_reply)
                weights.append(max(replies.integer(parts[index]), 1))
        if not candidates:
            return parts[1]  # every shard is empty: its null reply, in the client's protocol
        return rng.choices(candidates, weights)[0]

    return merge

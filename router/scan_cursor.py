"""SCAN across shards: the client's cursor carries the shard index in its high bits and
that shard's own cursor (< 2**48, guaranteed by the engine) in the low bits."""

from __future__ import annotations

SHARD_SHIFT = 48
SHARD_CURSOR_MASK = (1 << SHARD_SHIFT) - 1
_ULONG_MAX = 2**64 - 1


def compose(shard: int, shard_cursor: int) -> int:
    if not 0 <= shard_cursor <= SHARD_CURSOR_MASK:
        raise ValueError(f"shard cursor {shard_cursor} does not fit in {SHARD_SHIFT} bits")
    return (shard << SHARD_SHIFT) | shard_cursor


def decompose(cursor: int) -> tuple[int, int]:
    return cursor >> SHARD_SHIFT, cursor & SHARD_CURSOR_MASK


def parse(text: bytes) -> int | None:
    """A cursor the router can split: decimal digits within an unsigned 64-bit value. Other
    spellings are left to the shard, which replies Redis's error or reads them itself."""
    if not text.isdigit() or len(text) > 20:
        return None
    value = int(text)
    return value if value <= _ULONG_MAX else None


def next_cursor(shard: int, shard_next: int, shard_count: int) -> int:
    """The client's next cursor after `shard` returned `shard_next`: 0 moves on to the next
    shard, and past the last shard the iteration is over."""
    if shard_next != 0:
        return compose(shard, shard_next)
    if shard + 1 < shard_count:
        return compose(shard + 1, 0)
    return 0

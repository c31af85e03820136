"""Working on encoded RESP replies without decoding them: finding where a value ends,
splitting an array into its encoded elements, reading an integer. The router forwards
the shards' bytes; re-encoding decoded values would lose RESP3 types and double
formatting, so merges and EXEC splicing cut and join bytes instead."""

from __future__ import annotations

# Type bytes of RESP2/RESP3 values.
_LINE_TYPES = frozenset(b"+-:_,#(")
_BULK_TYPES = frozenset(b"$=!")
_AGGREGATE_TYPES = frozenset(b"*~>")
_MAP_TYPES = frozenset(b"%|")


class MalformedReply(ValueError):
    """A shard sent bytes that are not one complete RESP value."""


def value_end(data: bytes, pos: int = 0) -> int:
    """The index just past the complete RESP value that starts at `pos`."""
    if pos >= len(data):
        raise MalformedReply("reply truncated")
    kind = data[pos]
    newline = data.find(b"\r\n", pos)
    if newline < 0:
        raise MalformedReply("reply truncated")
    if kind in _LINE_TYPES:
        return newline + 2
    try:
        length = int(data[pos + 1 : newline])
    except ValueError:
        raise MalformedReply(f"bad length in {data[pos:newline][:40]!r}") from None
    after = newline + 2
    if kind in _BULK_TYPES:
        if length < 0:
            return after
        end = after + length + 2
        if end > len(data):
            raise MalformedReply("reply truncated")
        return end
    if kind in _AGGREGATE_TYPES or kind in _MAP_TYPES:
        count = length * 2 if kind in _MAP_TYPES else length
        for _ in range(max(count, 0)):
            after = value_end(data, after)
        if kind == 0x7C:  # '|': an attribute precedes the value it describes
            after = value_end(data, after)
        return after
    raise MalformedReply(f"unknown RESP type byte {chr(kind)!r}")


def split_array(data: bytes) -> list[bytes] | None:
    """The encoded elements of an array reply, or None if `data` is not an array (an
    error, a null)."""
    if data[:1] != b"*":
        return None
    newline = data.find(b"\r\n")
    count = int(data[1:newline])
    if count < 0:
        return None
    elements = []
    pos = newline + 2
    for _ in range(count):
        end = value_end(data, pos)
        elements.append(data[pos:end])
        pos = end
    if pos != len(data):
        raise MalformedReply("bytes after the array")
    return elements


def array(elements: list[bytes]) -> bytes:
    return b"*%d\r\n%s" % (len(elements), b"".join(elements))


def is_error(reply: bytes) -> bool:
    return reply[:1] in (b"-", b"!")


def integer(reply: bytes) -> int:
    if reply[:1] != b":":
        raise MalformedReply(f"an integer reply was expected, got {reply[:40]!r}")
    return int(reply[1:-2])


def bulk_text(reply: bytes) -> bytes | None:
    """The content of a bulk string reply (None for a null)."""
    if reply[:1] in (b"_",) or reply.startswith(b"$-1\r\n"):
        return None
    if reply[:1] != b"$":
        raise MalformedReply(f"a bulk string was expected, got {reply[:40]!r}")
    newline = reply.find(b"\r\n")
    return reply[newline + 2 : -2]


def error(text: bytes) -> bytes:
    """An encoded error reply (text without '-'), kept on one line."""
    return b"-%s\r\n" % text.replace(b"\r", b" ").replace(b"\n", b" ")

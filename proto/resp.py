"""Typed replies and their RESP2/RESP3 encoding.

A command's reply is built from plain Python values where the mapping is obvious
(bytes -> bulk string, int -> integer, None -> null, list -> array) and from the small
marker types below where RESP2 and RESP3 differ. The node encodes a reply in the
protocol of the client that sent the command; the router forwards the bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Reply = Any  # bytes | bytearray | int | None | list | one of the marker types below


class Simple(bytes):
    """A simple string: +OK."""

    __slots__ = ()


class Error(bytes):
    """An error reply, holding the text after the '-', e.g. b"ERR syntax error"."""

    __slots__ = ()


class NullArray:
    """RESP2's null array (*-1), sent by blocking pops that time out; RESP3 null."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NULL_ARRAY"


class Map(list):
    """A map as a flat list [k1, v1, k2, v2, ...]: RESP2 flat array, RESP3 '%'."""

    __slots__ = ()


class KeyedArrays(list):
    """A flat list [k1, v1, k2, v2, ...] sent as an array of [k, v] arrays in RESP2 and as
    a map in RESP3 (XREAD, XREADGROUP)."""

    __slots__ = ()


class SetReply(list):
    """An unordered collection: RESP2 array, RESP3 '~'."""

    __slots__ = ()


class Pairs(list):
    """A flat list [a1, b1, a2, b2, ...] sent flat in RESP2 and as an array of 2-element
    arrays in RESP3 (ZRANGE ... WITHSCORES, HRANDFIELD ... WITHVALUES)."""

    __slots__ = ()


class Double(float):
    """A double: RESP2 bulk string formatted as Redis 7.0 does, RESP3 ','."""

    __slots__ = ()


class DoubleText(bytes):
    """A double whose text the command chose (GEOPOS's and WITHCOORD's '%.17Lf' trimmed,
    Redis's addReplyHumanLongDouble): RESP2 bulk string, RESP3 ',' with that text."""

    __slots__ = ()


class Bool:
    """A boolean: RESP2 integer 0/1, RESP3 '#t'/'#f'."""

    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Bool) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        return f"Bool({self.value})"


class Verbatim(bytes):
    """A verbatim text (INFO, CLIENT INFO): RESP2 bulk string, RESP3 '=' with 'txt:'."""

    __slots__ = ()


class Push(list):
    """An out-of-band push (pub/sub messages): RESP2 array, RESP3 '>'."""

    __slots__ = ()


OK = Simple(b"OK")
PONG = Simple(b"PONG")
NULL_ARRAY = NullArray()
_ENCODED_OK = b"+OK\r\n"


def format_double(value: float) -> bytes:
    """Redis 7.0's addReplyDouble text (RESP2 bulk and RESP3 double): '%.17g', inf/-inf."""
    if math.isinf(value):
        return b"inf" if value > 0 else b"-inf"
    if math.isnan(value):
        return b"nan"
    return b"%.17g" % value


def encode(reply: Reply, resp3: bool = False) -> bytes:
    """Encode one reply as RESP2 (default) or RESP3 bytes."""
    if reply is OK:  # the most frequent reply, the same in both protocols
        return _ENCODED_OK
    out: list[bytes] = []
    _encode_into(reply, out, resp3)
    return b"".join(out)


def encode_many(replies: list[Reply], resp3: bool = False) -> bytes:
    out: list[bytes] = []
    for reply in replies:
        _encode_into(reply, out, resp3)
    return b"".join(out)


def _encode_into(reply: Reply, out: list[bytes], resp3: bool) -> None:
    kind = type(reply)
    if kind is bytes or kind is bytearray:
        out.append(b"$%d\r\n%s\r\n" % (len(reply), reply))
    elif kind is int:
        out.append(b":%d\r\n" % reply)
    elif reply is None:
        out.append(b"_\r\n" if resp3 else b"$-1\r\n")
    elif kind is Simple:
        out.append(b"+%s\r\n" % reply)
    elif kind is list:
        out.append(b"*%d\r\n" % len(reply))
        for item in reply:
            _encode_into(item, out, resp3)
    else:
        _ENCODERS[kind](reply, out, resp3)


def _error(reply: Error, out: list[bytes], resp3: bool) -> None:
    # An error text must stay on one line, as Redis's addReplyError guarantees.
    out.append(b"-%s\r\n" % reply.replace(b"\r", b" ").replace(b"\n", b" "))


def _null_array(reply: NullArray, out: list[bytes], resp3: bool) -> None:
    out.append(b"_\r\n" if resp3 else b"*-1\r\n")


def _map(reply: Map, out: list[bytes], resp3: bool) -> None:
    if resp3:
        out.append(b"%%%d\r\n" % (len(reply) // 2))
    else:
        out.append(b"*%d\r\n" % len(reply))
    for item in reply:
        _encode_into(item, out, resp3)


def _keyed_arrays(reply: KeyedArrays, out: list[bytes], resp3: bool) -> None:
    if resp3:
        _map(reply, out, resp3)  # type: ignore[arg-type]
        return
    out.append(b"*%d\r\n" % (len(reply) // 2))
    for index in range(0, len(reply), 2):
        out.append(b"*2\r\n")
        _encode_into(reply[index], out, resp3)
        _encode_into(reply[index + 1], out, resp3)


def _set(reply: SetReply, out: list[bytes], resp3: bool) -> None:
    out.append(b"%s%d\r\n" % (b"~" if resp3 else b"*", len(reply)))
    for item in reply:
        _encode_into(item, out, resp3)


def _pairs(reply: Pairs, out: list[bytes], resp3: bool) -> None:
    if resp3:
        out.append(b"*%d\r\n" % (len(reply) // 2))
        for index in range(0, len(reply), 2):
            out.append(b"*2\r\n")
            _encode_into(reply[index], out, resp3)
            _encode_into(reply[index + 1], out, resp3)
    else:
        out.append(b"*%d\r\n" % len(reply))
        for item in reply:
            _encode_into(item, out, resp3)


def _double(reply: Double, out: list[bytes], resp3: bool) -> None:
    if resp3:
        out.append(b",%s\r\n" % format_double(reply))
    else:
        text = format_double(reply)
        out.append(b"$%d\r\n%s\r\n" % (len(text), text))


def _double_text(reply: DoubleText, out: list[bytes], resp3: bool) -> None:
    if resp3:
        out.append(b",%s\r\n" % reply)
    else:
        out.append(b"$%d\r\n%s\r\n" % (len(reply), reply))


def _bool(reply: Bool, out: list[bytes], resp3: bool) -> None:
    if resp3:
        out.append(b"#t\r\n" if reply.value else b"#f\r\n")
    else:
        out.append(b":1\r\n" if reply.value else b":0\r\n")


def _verbatim(reply: Verbatim, out: list[bytes], resp3: bool) -> None:
    if resp3:
        out.append(b"=%d\r\ntxt:%s\r\n" % (len(reply) + 4, reply))
    else:
        out.append(b"$%d\r\n%s\r\n" % (len(reply), reply))


def _push(reply: Push, out: list[bytes], resp3: bool) -> None:
    out.append(b"%s%d\r\n" % (b">" if resp3 else b"*", len(reply)))
    for item in reply:
        _encode_into(item, out, resp3)


def _bulk(reply: bytes, out: list[bytes], resp3: bool) -> None:
    out.append(b"$%d\r\n%s\r\n" % (len(reply), reply))


_ENCODERS: dict[type, Callable[[Any, list[bytes], bool], None]] = {
    Error: _error,
    NullArray: _null_array,
    Map: _map,
    KeyedArrays: _keyed_arrays,
    SetReply: _set,
    Pairs: _pairs,
    Double: _double,
    DoubleText: _double_text,
    Bool: _bool,
    Verbatim: _verbatim,
    Push: _push,
    memoryview: _bulk,
}

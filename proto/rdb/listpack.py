"""Redis's listpack (listpack.c): the encoding of small hashes, sorted sets and of each
quicklist node. `encode` writes what lpAppend would (strings that are canonical 64-bit
integers become integer entries), `decode` validates every entry."""

from __future__ import annotations

from proto.rdb.reader import FormatError

HEADER_SIZE = 6
EOF_BYTE = 0xFF
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


def string_to_int(text: bytes) -> int | None:
    """lpStringToInt64 (string2ll): the value of a canonical decimal integer of at most
    20 bytes that fits 64 bits ("-0", "+1", "01", spaces: not)."""
    size = len(text)
    if size == 0 or size > 20:
        return None
    if size == 1 and text == b"0":
        return 0
    digits = text[1:] if text[0] == 0x2D else text
    if not digits or not (0x31 <= digits[0] <= 0x39):
        return None
    if not digits.isdigit():
        return None
    value = int(text)
    return value if _INT64_MIN <= value <= _INT64_MAX else None


def _backlen(size: int) -> bytes:
    """lpEncodeBacklen: the entry's size, 7 bits per byte, read from the end."""
    if size <= 127:
        return bytes((size,))
    if size < 16383:
        return bytes((size >> 7, (size & 127) | 128))
    if size < 2097151:
        return bytes((size >> 14, ((size >> 7) & 127) | 128, (size & 127) | 128))
    if size < 268435455:
        return bytes(
            (size >> 21, ((size >> 14) & 127) | 128, ((size >> 7) & 127) | 128, (size & 127) | 128)
        )
    return bytes(
        (
            size >> 28,
            ((size >> 21) & 127) | 128,
            ((size >> 14) & 127) | 128,
            ((size >> 7) & 127) | 128,
            (size & 127) | 128,
        )
    )


def _int_entry(value: int) -> bytes:
    if 0 <= value <= 127:
        return bytes((value,))
    if -4096 <= value <= 4095:
        value &= 0x1FFF
        return bytes((0xC0 | (value >> 8), value & 0xFF))
    if -32768 <= value <= 32767:
        return b"\xf1" + (value & 0xFFFF).to_bytes(2, "little")
    if -8388608 <= value <= 8388607:
        return b"\xf2" + (value & 0xFFFFFF).to_bytes(3, "little")
    if -2147483648 <= value <= 2147483647:
        return b"\xf3" + (value & 0xFFFFFFFF).to_bytes(4, "little")
    return b"\xf4" + (value & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little")


def entry(element: bytes | int) -> bytes:
    """One entry with its back-length: an int, or a string (as an int when it is one)."""
    value = element if isinstance(element, int) else string_to_int(element)
    if value is not None:
        body = _int_entry(value)
    else:
        assert not isinstance(element, int)
        size = len(element)
        if size < 64:
            body = bytes((0x80 | size,)) + element
        elif size < 4096:
            body = bytes((0xE0 | (size >> 8), size & 0xFF)) + element
        else:
            body = b"\xf0" + size.to_bytes(4, "little") + element
    return body + _backlen(len(body))


# First bytes a canonical integer can start with ("-" and the digits).
INTEGER_STARTS = frozenset(b"-0123456789")


def _backlen_size(size: int) -> int:
    if size <= 127:
        return 1
    if size < 16383:
        return 2
    if size < 2097151:
        return 3
    return 4 if size < 268435455 else 5


def entry_size(element: bytes) -> int:
    """len(entry(element)), without building it (list pushes and pops count node sizes)."""
    size = len(element)
    if size <= 20 and size and element[0] in INTEGER_STARTS:
        value = string_to_int(element)
        if value is not None:
            return len(_int_entry(value)) + 1  # an integer entry is at most 9 bytes
    if size < 64:
        body = 1 + size
    elif size < 4096:
        body = 2 + size
    else:
        body = 5 + size
    return body + _backlen_size(body)


def assemble(entries: list[bytes]) -> bytes:
    """A listpack of already encoded entries."""
    total = HEADER_SIZE + sum(map(len, entries)) + 1
    count = min(len(entries), 65535)
    return total.to_bytes(4, "little") + count.to_bytes(2, "little") + b"".join(entries) + b"\xff"


def encode(elements: list[bytes]) -> bytes:
    return assemble([entry(element) for element in elements])


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def decode(blob: bytes) -> list[bytes]:
    """The elements, integers as their decimal text. FormatError for a malformed blob
    (header total or count wrong, an entry or back-length that does not fit)."""
    if len(blob) < HEADER_SIZE + 1:
        raise FormatError("listpack too short")
    total = int.from_bytes(blob[0:4], "little")
    count = int.from_bytes(blob[4:6], "little")
    if total != len(blob) or blob[-1] != EOF_BYTE:
        raise FormatError("listpack size")
    end = total - 1
    pos = HEADER_SIZE
    elements: list[bytes] = []
    while pos < end:
        start = pos
        first = blob[pos]
        element: bytes
        if first < 0x80:
            element = b"%d" % first
            pos += 1
        elif first < 0xC0:
            size = first & 0x3F
            element = blob[pos + 1 : pos + 1 + size]
            pos += 1 + size
        elif first < 0xE0:
            if pos + 2 > end:
                raise FormatError("listpack entry")
            element = b"%d" % _signed(((first & 0x1F) << 8) | blob[pos + 1], 13)
            pos += 2
        elif first < 0xF0:
            if pos + 2 > end:
                raise FormatError("listpack entry")
            size = ((first & 0x0F) << 8) | blob[pos + 1]
            element = blob[pos + 2 : pos + 2 + size]
            pos += 2 + size
        elif first == 0xF0:
            if pos + 5 > end:
                raise FormatError("listpack entry")
            size = int.from_bytes(blob[pos + 1 : pos + 5], "little")
            element = blob[pos + 5 : pos + 5 + size]
            pos += 5 + size
        elif 0xF1 <= first <= 0xF4:
            width = (2, 3, 4, 8)[first - 0xF1]
            if pos + 1 + width > end:
                raise FormatError("listpack entry")
            raw = int.from_bytes(blob[pos + 1 : pos + 1 + width], "little")
            element = b"%d" % _signed(raw, width * 8)
            pos += 1 + width
        else:
            raise FormatError("listpack entry type")
        if pos > end:
            raise FormatError("listpack entry")
        body = pos - start
        back = _backlen(body)
        if blob[pos : pos + len(back)] != back:
            raise FormatError("listpack back-length")
        pos += len(back)
        elements.append(element)
    if pos != end:
        raise FormatError("listpack entries")
    if count != 65535 and count != len(elements):
        raise FormatError("listpack count")
    return elements

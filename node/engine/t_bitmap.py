"""The bitmap commands besides SETBIT/GETBIT/BITCOUNT, as Redis 7.0's bitops.c: BITOP,
BITPOS, BITFIELD and BITFIELD_RO. Bit 0 is the most significant bit of the first byte."""

from __future__ import annotations

import numpy as np

from node.engine.errors import CommandError
from node.engine.keyspace import Keyspace
from node.engine.parsing import parse_int, to_int
from node.engine.registry import command
from node.engine.t_string import _conversion, _store_in_place
from node.engine.work import string_work
from proto.errors import SYNTAX
from proto.resp import Reply

BIT_OFFSET_ERROR = b"ERR bit offset is not an integer or out of range"
BIT_ARGUMENT_ERROR = b"ERR The bit argument must be 1 or 0."
BITOP_NOT_ERROR = b"ERR BITOP NOT must be called with a single source key."
BITFIELD_TYPE_ERROR = (
    b"ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported "
    b"but i64 is."
)
OVERFLOW_TYPE_ERROR = b"ERR Invalid OVERFLOW type specified"
BITFIELD_RO_ERROR = b"ERR BITFIELD_RO only supports the GET subcommand"

_UINT64 = (1 << 64) - 1

# ---------------------------------------------------------------------- BITOP

_BITOPS = {b"AND": np.bitwise_and, b"OR": np.bitwise_or, b"XOR": np.bitwise_xor, b"NOT": None}


@command("bitop")
def bitop(db: Keyspace, args: list[bytes]) -> Reply:
    operation = args[1].upper()
    if operation not in _BITOPS:
        raise CommandError(SYNTAX)
    target, sources = args[2], args[3:]
    if operation == b"NOT" and len(sources) != 1:
        raise CommandError(BITOP_NOT_ERROR)
    values = []
    for source in sources:
        value = db.lookup_read_string(source)
        values.append(b"" if value is None else value)
    longest = max(map(len, values))
    # Every source is read (padded with zero bytes to the longest) and the result written.
    db.charge(string_work(longest * (len(values) + 1)))
    if longest == 0:
        if db.delete(target):
            db.notify("g", b"del", target)
        return 0
    if operation == b"NOT":
        result = bytearray(np.invert(np.frombuffer(values[0], dtype=np.uint8)).tobytes())
    else:
        combine = _BITOPS[operation]
        padded = [
            np.frombuffer(bytes(value) + bytes(longest - len(value)), dtype=np.uint8)
            for value in values
        ]
        acc = padded[0]
        for other in padded[1:]:
            acc = combine(acc, other)  # type: ignore[misc]
        result = bytearray(acc.tobytes())
    # A new raw string, as Redis's createObject (OBJECT ENCODING "raw").
    db.set(target, result)
    db.notify("$", b"set", target)
    return longest


# ---------------------------------------------------------------------- BITPOS


def _first_bit(data: memoryview, bit: int) -> int:
    """The position of the first `bit` in `data`, -1 if none."""
    array = np.frombuffer(data, dtype=np.uint8)
    unwanted = 0 if bit else 0xFF
    found = np.flatnonzero(array != unwanted)
    if len(found) == 0:
        return -1
    index = int(found[0])
    byte = array[index] if bit else ~int(array[index]) & 0xFF
    return index * 8 + 8 - int(byte).bit_length()


@command("bitpos")
def bitpos(db: Keyspace, args: list[bytes]) -> Reply:
    bit = parse_int(args[2])
    if bit not in (0, 1):
        raise CommandError(BIT_ARGUMENT_ERROR)
    value = db.lookup_string(args[1])
    # A missing key is an endless run of zero bits.
    if value is None:
        return -1 if bit else 0
    argc = len(args)
    length = len(value)
    bit_mode = False
    end_given = False
    if argc in (4, 5, 6):
        start = parse_int(args[3])
        if argc == 6:
            unit = args[5].upper()
            if unit not in (b"BIT", b"BYTE"):
                raise CommandError(SYNTAX)
            bit_mode = unit == b"BIT"
        if argc >= 5:
            end = parse_int(args[4])
            end_given = True
        else:
            end = length * 8 + 7 if bit_mode else length - 1
        total = length * 8 if bit_mode else length
        if start < 0:
            start += total
        if end < 0:
            end += total
        start = max(start, 0)
        end = max(end, 0)
        end = min(end, total - 1)
    elif argc == 3:
        start, end = 0, length - 1
    else:
        raise CommandError(SYNTAX)
    if start > end:
        return -1
    if not bit_mode:
        start, end = start * 8, end * 8 + 7
    first_byte, last_byte = start >> 3, end >> 3
    db.charge(string_work(last_byte + 1 - first_byte))
    window = bytearray(memoryview(value)[first_byte : last_byte + 1])
    # The bits of the first and last bytes outside [start, end] never match.
    head = (0xFF << (8 - (start & 7))) & 0xFF
    tail = (1 << (7 - (end & 7))) - 1
    if bit:
        window[0] &= ~head & 0xFF
        window[-1] &= ~tail & 0xFF
    else:
        window[0] |= head
        window[-1] |= tail
    found = _first_bit(memoryview(window), bit)
    if found >= 0:
        return first_byte * 8 + found
    # No clear bit in a range without an explicit end: the string counts as followed by
    # zero bits, the first one just past the range.
    if bit == 0 and not end_given:
        return (last_byte + 1) * 8
    return -1


# ---------------------------------------------------------------------- BITFIELD

WRAP, SAT, FAIL = 0, 1, 2
_OVERFLOWS = {b"WRAP": WRAP, b"SAT": SAT, b"FAIL": FAIL}
GET, SET, INCRBY = 0, 1, 2
# Subcommand name, and how many arguments it needs after it.
_OPERATIONS = {b"GET": (GET, 2), b"SET": (SET, 3), b"INCRBY": (INCRBY, 3)}


def _field_type(arg: bytes) -> tuple[bool, int]:
    """getBitfieldTypeFromArgument: (signed, bits) of i1..i64 / u1..u63 (case matters)."""
    if arg[:1] not in (b"i", b"u"):
        raise CommandError(BITFIELD_TYPE_ERROR)
    signed = arg[:1] == b"i"
    bits = to_int(arg[1:].split(b"\x00", 1)[0])
    if bits is None or bits < 1 or bits > (64 if signed else 63):
        raise CommandError(BITFIELD_TYPE_ERROR)
    return signed, bits


def _field_offset(db: Keyspace, arg: bytes, bits: int) -> int:
    """getBitOffsetFromArgument: a bit offset, or #n for the n-th field of this width."""
    by_field = arg[:1] == b"#"
    offset = to_int(arg[1:] if by_field else arg)
    if offset is None:
        raise CommandError(BIT_OFFSET_ERROR)
    if by_field:
        offset *= bits
        # Redis multiplies in 64 bits: keep what wraps there.
        offset = (offset + (1 << 63)) % (1 << 64) - (1 << 63)
    if offset < 0 or (offset >> 3) >= db.config.proto_max_bulk_len:
        raise CommandError(BIT_OFFSET_ERROR)
    return offset


def _read_field(data: bytes | bytearray, offset: int, bits: int, signed: bool) -> int:
    first, last = offset >> 3, (offset + bits - 1) >> 3
    chunk = bytes(data[first : last + 1])
    chunk += bytes(last + 1 - first - len(chunk))
    raw = int.from_bytes(chunk, "big") >> ((last + 1) * 8 - offset - bits)
    raw &= (1 << bits) - 1
    if signed and raw >> (bits - 1):
        raw -= 1 << bits
    return raw


def _write_field(data: bytearray, offset: int, bits: int, value: int) -> None:
    first, last = offset >> 3, (offset + bits - 1) >> 3
    shift = (last + 1) * 8 - offset - bits
    mask = ((1 << bits) - 1) << shift
    current = int.from_bytes(data[first : last + 1], "big")
    current = (current & ~mask) | ((value << shift) & mask)
    data[first : last + 1] = current.to_bytes(last + 1 - first, "big")


def _int64(number: int) -> int:
    """`number` as C's int64_t holds it after wrapping."""
    return (number + (1 << 63)) % (1 << 64) - (1 << 63)


def _overflowed(value: int, incr: int, signed: bool, bits: int, kind: int) -> tuple[bool, int]:
    """checkSignedBitfieldOverflow / checkUnsignedBitfieldOverflow, their 64-bit
    arithmetic included (a limit computed in int64_t may wrap: SET i8 with -2**63 counts as
    an overflow upwards there): whether `value + incr` overflows, and the value WRAP or
    SAT make of it."""
    if signed:
        high = (1 << 63) - 1 if bits == 64 else (1 << (bits - 1)) - 1
        low = -high - 1
        max_incr = _int64(high - value)
        min_incr = _int64(low - value)
        if value > high or (bits != 64 and incr > max_incr) or (value >= 0 and 0 < incr > max_incr):
            upwards = True
        elif value < low or (bits != 64 and incr < min_incr) or (value < 0 and 0 > incr < min_incr):
            upwards = False
        else:
            return False, value + incr
        if kind == SAT:
            return True, high if upwards else low
        wrapped = (value + incr) & ((1 << bits) - 1)
        if wrapped >> (bits - 1):
            wrapped -= 1 << bits
        return True, wrapped
    high = (1 << bits) - 1
    max_incr = _int64(high - value)
    min_incr = _int64(-value)
    if value > high or 0 < incr > max_incr:
        upwards = True
    elif 0 > incr < min_incr:
        upwards = False
    else:
        return False, value + incr
    if kind == SAT:
        return True, high if upwards else 0
    return True, (value + incr) & high


def _bitfield(db: Keyspace, args: list[bytes], readonly_command: bool) -> Reply:
    operations: list[tuple[int, bool, int, int, int, int]] = []
    overflow = WRAP
    highest = -1
    index = 2
    argc = len(args)
    while index < argc:
        remaining = argc - index - 1
        name = args[index].upper()
        if name == b"OVERFLOW" and remaining >= 1:
            kind = _OVERFLOWS.get(args[index + 1].upper())
            if kind is None:
                raise CommandError(OVERFLOW_TYPE_ERROR)
            overflow = kind
            index += 2
            continue
        operation = _OPERATIONS.get(name)
        if operation is None or remaining < operation[1]:
            raise CommandError(SYNTAX)
        opcode, needs = operation
        signed, bits = _field_type(args[index + 1])
        offset = _field_offset(db, args[index + 2], bits)
        number = 0
        if opcode != GET:
            highest = max(highest, offset + bits - 1)
            number = parse_int(args[index + 3])
        operations.append((opcode, signed, bits, offset, number, overflow))
        index += needs + 1
    if highest < 0:
        value = db.lookup_read_string(args[1])
        db.charge(len(operations))
        return [
            _read_field(value or b"", offset, bits, signed)
            for _, signed, bits, offset, _, _ in operations
        ]
    if readonly_command:
        raise CommandError(BITFIELD_RO_ERROR)
    key = args[1]
    current = db.lookup_string(key)
    size = (highest >> 3) + 1
    if current is None:
        db.charge(string_work(size) + len(operations))
    else:
        growth = max(size - len(current), 0)
        db.charge(string_work(_conversion(current) + growth) + len(operations))
    replies: list[Reply] = []
    # Fields changed: Redis notifies "setbit" only when some were, and counts every write
    # as a change when the string grew (bitfieldGeneric's strGrowSize || oldval != newval).
    writes = 0
    grew = current is None or len(current) < size

    def apply(data: bytearray) -> None:
        nonlocal writes
        if len(data) < size:
            data.extend(bytes(size - len(data)))
        for opcode, signed, bits, offset, number, kind in operations:
            if opcode == GET:
                replies.append(_read_field(data, offset, bits, signed))
                continue
            old = _read_field(data, offset, bits, signed)
            if opcode == INCRBY:
                overflowed, new = _overflowed(old, number, signed, bits, kind)
                reply = new
            else:
                # An unsigned SET takes the 64-bit pattern of the number.
                given = number if signed else number & _UINT64
                overflowed, new = _overflowed(given, 0, signed, bits, kind)
                reply = old
            if overflowed and kind == FAIL:
                replies.append(None)
            else:
                replies.append(reply)
                _write_field(data, offset, bits, new)
                if grew or new != old:
                    writes += 1

    if current is None:
        created = bytearray()
        apply(created)
        db.set(key, created)
    else:
        _store_in_place(db, key, current, apply)
    if writes:
        db.notify("$", b"setbit", key)
    return replies


@command("bitfield")
def bitfield(db: Keyspace, args: list[bytes]) -> Reply:
    return _bitfield(db, args, readonly_command=False)


@command("bitfield_ro")
def bitfield_ro(db: Keyspace, args: list[bytes]) -> Reply:
    return _bitfield(db, args, readonly_command=True)

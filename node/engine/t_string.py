"""String commands, as Redis 7.0's t_string.c (and SET IFEQ/IFNE, DELEX from 8.4)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from node.engine.errors import CommandError
from node.engine.keyspace import Keyspace
from node.engine.parsing import (
    LLONG_MAX,
    LLONG_MIN,
    format_long_double,
    parse_int,
    to_int,
    to_long_double,
)
from node.engine.registry import command
from node.engine.work import string_work
from proto.errors import (
    NAN_OR_INFINITY,
    NOT_FLOAT,
    NOT_INTEGER,
    OVERFLOW,
    STRING_TOO_LONG,
    SYNTAX,
    invalid_expire_time,
)
from proto.resp import OK, Map, Reply

BIT_OFFSET_ERROR = b"ERR bit offset is not an integer or out of range"
BIT_VALUE_ERROR = b"ERR bit is not an integer or out of range"
OFFSET_RANGE_ERROR = b"ERR offset is out of range"


def invalid_expire(name: str) -> CommandError:
    return CommandError(invalid_expire_time(name.encode()))


def expire_at_ms(db: Keyspace, arg: bytes, unit_seconds: bool, relative: bool, name: str) -> int:
    """getExpireMillisecondsOrReply: the absolute expiry time in ms for EX/PX/EXAT/PXAT."""
    value = parse_int(arg)
    if value <= 0 or (unit_seconds and value > LLONG_MAX // 1000):
        raise invalid_expire(name)
    if unit_seconds:
        value *= 1000
    if relative:
        value += db.now_ms
    if value <= 0 or value > LLONG_MAX:
        raise invalid_expire(name)
    return value


def check_length(db: Keyspace, length: int) -> None:
    if length > db.config.proto_max_bulk_len:
        raise CommandError(STRING_TOO_LONG)


def _read(db: Keyspace, value: bytes | bytearray | None) -> bytes | None:
    """A stored string as a reply: its bytes are copied into the reply (and by the node
    on its way out), which is work (node.engine.work)."""
    if value is None:
        return None
    db.charge(string_work(len(value)))
    return bytes(value) if isinstance(value, bytearray) else value


# ---------------------------------------------------------------------- GET / SET family


@command("get")
def get(db: Keyspace, args: list[bytes]) -> Reply:
    return _read(db, db.lookup_string(args[1]))


_EXPIRE_OPTIONS = {
    b"EX": (True, True),
    b"PX": (False, True),
    b"EXAT": (True, False),
    b"PXAT": (False, False),
}
_CONDITIONS = (b"NX", b"XX", b"IFEQ", b"IFNE")


def parse_set_options(args: list[bytes], start: int, for_getex: bool) -> dict[bytes, bytes]:
    """parseExtendedStringArgumentsOrReply: options by upper-case name (value b"" for
    flags). Repeating an option is allowed, combining conflicting ones is a syntax error."""
    options: dict[bytes, bytes] = {}
    index = start
    argc = len(args)
    while index < argc:
        option = args[index].upper()
        has_next = index + 1 < argc
        expiry = [name for name in _EXPIRE_OPTIONS if name in options]
        if not for_getex and option in _CONDITIONS:
            condition = [name for name in _CONDITIONS if name in options]
            takes_value = option in (b"IFEQ", b"IFNE")
            if (condition and condition != [option]) or (takes_value and not has_next):
                raise CommandError(SYNTAX)
            options[option] = args[index + 1] if takes_value else b""
            index += 1 + takes_value
            continue
        flag_options = (b"PERSIST",) if for_getex else (b"GET", b"KEEPTTL")
        if option in flag_options and (option == b"GET" or not expiry):
            options[option] = b""
        elif (
            option in _EXPIRE_OPTIONS
            and has_next
            and expiry in ([], [option])
            and b"KEEPTTL" not in options
            and b"PERSIST" not in options
        ):
            index += 1
            options[option] = args[index]
        else:
            raise CommandError(SYNTAX)
        index += 1
    return options


def expire_option(db: Keyspace, options: dict[bytes, bytes], name: str) -> int | None:
    for option, (seconds, relative) in _EXPIRE_OPTIONS.items():
        if option in options:
            return expire_at_ms(db, options[option], seconds, relative, name)
    return None


@command("set")
def set_(db: Keyspace, args: list[bytes]) -> Reply:
    key, value = args[1], args[2]
    if len(args) == 3:
        db.set(key, value)
        db.notify("$", b"set", key)
        return OK
    options = parse_set_options(args, 3, for_getex=False)
    when = expire_option(db, options, "set")
    want_old = b"GET" in options
    compare = options.get(b"IFEQ", options.get(b"IFNE"))
    if want_old:
        old = db.lookup_read_string(key)  # Redis's GET option reads the key: keymiss
        found = old is not None
        _read(db, old)
    elif compare is not None:
        old = db.lookup_string(key)
        found = old is not None
    else:
        old = None
        found = db.lookup(key) is not None
    if (
        (b"NX" in options and found)
        or (b"XX" in options and not found)
        or (b"IFEQ" in options and (old is None or old != compare))
        or (b"IFNE" in options and old is not None and old == compare)
    ):
        return _old_reply(old) if want_old else None
    db.set(key, value, keep_ttl=b"KEEPTTL" in options)
    db.notify("$", b"set", key)
    if when is not None:
        db.set_expire(key, when)
        db.notify("g", b"expire", key)
    return _old_reply(old) if want_old else OK


def _old_reply(old: bytes | bytearray | None) -> Reply:
    return bytes(old) if type(old) is bytearray else old


@command("setnx")
def setnx(db: Keyspace, args: list[bytes]) -> Reply:
    if db.lookup(args[1]) is not None:
        return 0
    db.set(args[1], args[2])
    db.notify("$", b"set", args[1])
    return 1


@command("setex", "psetex")
def setex(db: Keyspace, args: list[bytes]) -> Reply:
    name = args[0].decode().lower()
    when = expire_at_ms(db, args[2], name == "setex", True, name)
    db.set(args[1], args[3])
    db.notify("$", b"set", args[1])
    db.set_expire(args[1], when)
    db.notify("g", b"expire", args[1])
    return OK


@command("getset")
def getset(db: Keyspace, args: list[bytes]) -> Reply:
    old = _read(db, db.lookup_read_string(args[1]))
    db.set(args[1], args[2])
    db.notify("$", b"set", args[1])
    return old


@command("getdel")
def getdel(db: Keyspace, args: list[bytes]) -> Reply:
    old = _read(db, db.lookup_read_string(args[1]))
    if old is not None:
        db.delete(args[1])
        db.notify("g", b"del", args[1])
    return old


@command("getex")
def getex(db: Keyspace, args: list[bytes]) -> Reply:
    key = args[1]
    options = parse_set_options(args, 2, for_getex=True)
    value = db.lookup_read_string(key)
    if value is None:
        return None
    reply = _read(db, value)
    # Redis validates the expire time only once the key is known to exist.
    when = expire_option(db, options, "getex")
    if when is not None:
        if when <= db.now_ms and (b"EXAT" in options or b"PXAT" in options):
            db.delete(key)
            db.notify("g", b"del", key)
        else:
            db.set_expire(key, when)
            db.notify("g", b"expire", key)
    elif b"PERSIST" in options and db.persist(key):
        db.notify("g", b"persist", key)
    return reply


@command("mget")
def mget(db: Keyspace, args: list[bytes]) -> Reply:
    result: list[bytes | None] = []
    size = 0
    for key in args[1:]:
        value = db.lookup(key)
        if type(value) is bytes:
            result.append(value)
            size += len(value)
        elif type(value) is bytearray:
            result.append(bytes(value))
            size += len(value)
        else:
            result.append(None)
    db.charge(string_work(size))
    return result


@command("mset")
def mset(db: Keyspace, args: list[bytes]) -> Reply:
    if len(args) % 2 == 0:
        raise CommandError(b"ERR wrong number of arguments for 'mset' command")
    for index in range(1, len(args), 2):
        db.set(args[index], args[index + 1])
        db.notify("$", b"set", args[index])
    return OK


@command("msetnx")
def msetnx(db: Keyspace, args: list[bytes]) -> Reply:
    if len(args) % 2 == 0:
        raise CommandError(b"ERR wrong number of arguments for 'msetnx' command")
    for index in range(1, len(args), 2):
        if db.lookup(args[index]) is not None:
            return 0
    for index in range(1, len(args), 2):
        db.set(args[index], args[index + 1])
        db.notify("$", b"set", args[index])
    return 1


# ---------------------------------------------------------------------- counters


def _incr(db: Keyspace, key: bytes, delta: int) -> int:
    current = db.lookup_string(key)
    number: int | None
    if current is None:
        number = 0
    else:
        number = to_int(bytes(current))
        if number is None:
            raise CommandError(NOT_INTEGER)
    result = number + delta
    if result < LLONG_MIN or result > LLONG_MAX:
        raise CommandError(OVERFLOW)
    db.set(key, b"%d" % result, keep_ttl=True)
    db.notify("$", b"incrby", key)
    return result


@command("incr")
def incr(db: Keyspace, args: list[bytes]) -> Reply:
    return _incr(db, args[1], 1)


@command("decr")
def decr(db: Keyspace, args: list[bytes]) -> Reply:
    return _incr(db, args[1], -1)


@command("incrby")
def incrby(db: Keyspace, args: list[bytes]) -> Reply:
    return _incr(db, args[1], parse_int(args[2]))


@command("decrby")
def decrby(db: Keyspace, args: list[bytes]) -> Reply:
    delta = parse_int(args[2])
    if delta == LLONG_MIN:
        raise CommandError(b"ERR decrement would overflow")
    return _incr(db, args[1], -delta)


@command("incrbyfloat")
def incrbyfloat(db: Keyspace, args: list[bytes]) -> Reply:
    key = args[1]
    current = db.lookup_string(key)
    base = to_long_double(bytes(current)) if current is not None else to_long_double(b"0")
    increment = to_long_double(args[2])
    if base is None or increment is None:
        raise CommandError(NOT_FLOAT)
    result = base + increment
    if not np.isfinite(result):
        raise CommandError(NAN_OR_INFINITY)
    text = format_long_double(result)
    db.set(key, text, keep_ttl=True)
    db.notify("$", b"incrbyfloat", key)
    return text


# ---------------------------------------------------------------------- byte ranges


@command("append")
def append(db: Keyspace, args: list[bytes]) -> Reply:
    key, suffix = args[1], args[2]
    current = db.lookup_string(key)
    if current is None:
        db.set(key, suffix)
        db.notify("$", b"append", key)
        return len(suffix)
    check_length(db, len(current) + len(suffix))
    db.charge(string_work(_conversion(current) + len(suffix)))
    length = len(_store_in_place(db, key, current, lambda grown: grown.extend(suffix)))
    db.notify("$", b"append", key)
    return length


def _conversion(current: bytes | bytearray) -> int:
    """The bytes copied to change `current` in place: all of them the first time (a
    stored string becomes a bytearray), none after."""
    return 0 if type(current) is bytearray else len(current)


def _store_in_place(
    db: Keyspace, key: bytes, current: bytes | bytearray, change: Callable[[bytearray], object]
) -> bytearray:
    """Change a stored string in place. A bytearray marks a string modified in place:
    Redis reports its encoding as "raw" from then on."""
    if type(current) is bytearray:
        old_length = len(current)
        change(current)
        db.string_grown(key, current, old_length)
        return current
    grown = bytearray(current)
    change(grown)
    db.set(key, grown, keep_ttl=True)
    return grown


@command("strlen")
def strlen(db: Keyspace, args: list[bytes]) -> Reply:
    value = db.lookup_string(args[1])
    return 0 if value is None else len(value)


@command("getrange", "substr")
def getrange(db: Keyspace, args: list[bytes]) -> Reply:
    start = parse_int(args[2])
    end = parse_int(args[3])
    value = db.lookup_string(args[1])
    if value is None:
        return b""
    length = len(value)
    # Redis 7.0: both ends clamp to 0 after counting from the end.
    if start < 0 and end < 0 and start > end:
        return b""
    if start < 0:
        start = length + start
    if end < 0:
        end = length + end
    start = max(start, 0)
    end = max(end, 0)
    if end >= length:
        end = length - 1
    if start > end or length == 0:
        return b""
    db.charge(string_work(end + 1 - start))
    # One copy, even of a string held as a bytearray.
    return bytes(memoryview(value)[start : end + 1])


@command("setrange")
def setrange(db: Keyspace, args: list[bytes]) -> Reply:
    key, patch = args[1], args[3]
    offset = parse_int(args[2])
    if offset < 0:
        raise CommandError(OFFSET_RANGE_ERROR)
    current = db.lookup_string(key)
    if current is None:
        if not patch:
            return 0
        check_length(db, offset + len(patch))
        db.charge(string_work(offset + len(patch)))
        created = bytearray(offset + len(patch))
        created[offset:] = patch
        db.set(key, created)
        db.notify("$", b"setrange", key)
        return offset + len(patch)
    if not patch:
        return len(current)
    check_length(db, offset + len(patch))
    growth = max(offset + len(patch) - len(current), 0)
    db.charge(string_work(_conversion(current) + growth + len(patch)))

    def overwrite(value: bytearray) -> None:
        if len(value) < offset + len(patch):
            value.extend(bytes(offset + len(patch) - len(value)))
        value[offset : offset + len(patch)] = patch

    length = len(_store_in_place(db, key, current, overwrite))
    db.notify("$", b"setrange", key)
    return length


def _bit_offset(db: Keyspace, arg: bytes) -> int:
    offset = to_int(arg)
    if offset is None or offset < 0 or (offset >> 3) >= db.config.proto_max_bulk_len:
        raise CommandError(BIT_OFFSET_ERROR)
    return offset


@command("setbit")
def setbit(db: Keyspace, args: list[bytes]) -> Reply:
    key = args[1]
    offset = _bit_offset(db, args[2])
    if args[3] not in (b"0", b"1"):
        raise CommandError(BIT_VALUE_ERROR)
    on = args[3] == b"1"
    byte_index = offset >> 3
    mask = 1 << (7 - (offset & 7))
    current = db.lookup_string(key)
    # A bit past the end grows the string with zero bytes.
    if current is None:
        db.charge(string_work(byte_index + 1))
    else:
        growth = max(byte_index + 1 - len(current), 0)
        db.charge(string_work(_conversion(current) + growth))
    old_length = 0 if current is None else len(current)
    old = (
        1 if current is not None and byte_index < len(current) and current[byte_index] & mask else 0
    )

    def flip(value: bytearray) -> None:
        if len(value) <= byte_index:
            value.extend(bytes(byte_index + 1 - len(value)))
        if on:
            value[byte_index] |= mask
        else:
            value[byte_index] &= ~mask & 0xFF

    if current is None:
        created = bytearray()
        flip(created)
        db.set(key, created)
    else:
        _store_in_place(db, key, current, flip)
    # Redis reports it only when the string was created or grown, or the bit flipped.
    if current is None or byte_index >= old_length or old != on:
        db.notify("$", b"setbit", key)
    return old


@command("getbit")
def getbit(db: Keyspace, args: list[bytes]) -> Reply:
    offset = _bit_offset(db, args[2])
    value = db.lookup_string(args[1])
    byte_index = offset >> 3
    if value is None or byte_index >= len(value):
        return 0
    return 1 if value[byte_index] & (1 << (7 - (offset & 7))) else 0


@command("bitcount")
def bitcount(db: Keyspace, args: list[bytes]) -> Reply:
    # Redis 7.0 looks the key up before it parses the range.
    value = db.lookup_string(args[1])
    if value is None:
        return 0
    argc = len(args)
    if argc == 2:
        db.charge(string_work(len(value)))
        return _ones(memoryview(value))
    if argc not in (4, 5):
        raise CommandError(SYNTAX)
    start = parse_int(args[2])
    end = parse_int(args[3])
    if start < 0 and end < 0 and start > end:
        return 0
    bit_mode = False
    if argc == 5:
        unit = args[4].upper()
        if unit not in (b"BIT", b"BYTE"):
            raise CommandError(SYNTAX)
        bit_mode = unit == b"BIT"
    total = len(value) * 8 if bit_mode else len(value)
    if start < 0:
        start = total + start
    if end < 0:
        end = total + end
    start = max(start, 0)
    end = max(end, 0)
    if end >= total:
        end = total - 1
    if start > end:
        return 0
    if not bit_mode:
        db.charge(string_work(end + 1 - start))
        return _ones(memoryview(value)[start : end + 1])
    first_byte, last_byte = start >> 3, end >> 3
    db.charge(string_work(last_byte + 1 - first_byte))
    ones = _ones(memoryview(value)[first_byte : last_byte + 1])
    # Bit 0 is the most significant bit of the first byte: take away the bits of the
    # first byte before `start` and those of the last byte after `end`.
    before = (0xFF << (8 - (start & 7))) & 0xFF
    after = (1 << (7 - (end & 7))) - 1
    return ones - (value[first_byte] & before).bit_count() - (value[last_byte] & after).bit_count()


def _ones(data: memoryview) -> int:
    """The number of set bits, counted by numpy (a bit count of a 512 MB string through a
    Python int took over a second)."""
    whole = len(data) - len(data) % 8
    ones = int(np.bitwise_count(np.frombuffer(data[:whole], dtype=np.uint64)).sum())
    return ones + sum(byte.bit_count() for byte in data[whole:])


# ---------------------------------------------------------------------- LCS

# LCS fills a table of (len(a) + 1) x (len(b) + 1) cells, one row of numpy operations per
# byte of the shorter string (10 to 15 ns a cell, a few microseconds a row, here), then
# walks back through it in Python, a step per byte at most (about half a microsecond).
# Its work (node.engine.work): one element per LCS_CELLS_PER_ELEMENT cells, LCS_ROW_WORK
# per row, one per step. At the default max-command-work: at most some 7 million cells
# (14 MB of table); the slowest case measured, a byte against 100,000 unlike ones (the
# walk), took 60 ms, two strings of 2,450 bytes 30 ms.
LCS_CELLS_PER_ELEMENT = 64
LCS_ROW_WORK = 4
LCS_NOT_STRINGS = b"ERR The specified keys must contain string values"
LCS_LEN_AND_IDX = b"ERR If you want both the length and indexes, please just use IDX."
LCS_TOO_LONG = b"ERR String too long for LCS"
LCS_TABLE_TOO_BIG = b"ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"


@command("lcs")
def lcs(db: Keyspace, args: list[bytes]) -> Reply:
    """LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN], as Redis 7.0's
    lcsCommand: its errors in its order, its walk back through the table (which decides
    which of several longest subsequences is the answer), its runs from the last."""
    values = [db.lookup(args[1]), db.lookup(args[2])]
    if any(v is not None and type(v) is not bytes and type(v) is not bytearray for v in values):
        raise CommandError(LCS_NOT_STRINGS)
    a, b = (bytes(value or b"") for value in values)
    want_length = want_runs = with_run_length = False
    min_run_length = 0
    index = 3
    while index < len(args):
        option = args[index].lower()
        if option == b"idx":
            want_runs = True
        elif option == b"len":
            want_length = True
        elif option == b"withmatchlen":
            with_run_length = True
        elif option == b"minmatchlen" and index + 1 < len(args):
            min_run_length = max(parse_int(args[index + 1]), 0)
            index += 1
        else:
            raise CommandError(SYNTAX)
        index += 1
    if want_length and want_runs:
        raise CommandError(LCS_LEN_AND_IDX)
    if len(a) >= 2**32 - 2 or len(b) >= 2**32 - 2:
        raise CommandError(LCS_TOO_LONG)
    cells = (len(a) + 1) * (len(b) + 1)
    if cells * 4 > db.config.proto_max_bulk_len:  # Redis's table: 4 bytes a cell
        raise CommandError(LCS_TABLE_TOO_BIG)
    walk = not want_length or want_runs
    db.charge(
        cells // LCS_CELLS_PER_ELEMENT
        + min(len(a), len(b)) * LCS_ROW_WORK
        + (len(a) + len(b) if walk else 0)
    )
    length_at = _lcs_table(a, b)
    total = length_at(len(a), len(b))
    if not walk:
        return total
    common, runs = _lcs_walk(a, b, length_at, total, min_run_length, with_run_length)
    if want_runs:
        return Map([b"matches", runs, b"len", total])
    return common


def _lcs_table(a: bytes, b: bytes) -> Callable[[int, int], int]:
    """The length of the longest common subsequence of a[:i] and b[:j], for every i and j,
    as a function of (i, j). Filled a row per byte of the shorter string: a row is the
    previous one, +1 on the diagonal where the bytes match, then a running maximum (a
    cell is the best of its left, upper and upper-left neighbours)."""
    rows, columns = (a, b) if len(a) <= len(b) else (b, a)
    dtype = np.uint16 if len(rows) < 0xFFFF else np.uint32  # no length exceeds len(rows)
    table = np.zeros((len(rows) + 1, len(columns) + 1), dtype)
    column_bytes = np.frombuffer(columns, np.uint8)
    for row, byte in enumerate(rows, 1):
        previous = table[row - 1]
        cells = table[row, 1:]
        np.add(previous[:-1], column_bytes == byte, out=cells, casting="unsafe")
        np.maximum(cells, previous[1:], out=cells)
        np.maximum.accumulate(cells, out=cells)
    if rows is a:
        return lambda i, j: int(table.item(i, j))
    return lambda i, j: int(table.item(j, i))


def _lcs_walk(
    a: bytes,
    b: bytes,
    length_at: Callable[[int, int], int],
    total: int,
    min_run_length: int,
    with_run_length: bool,
) -> tuple[bytes, list[list]]:
    """Redis's walk from the table's end: the common subsequence, and its runs (ranges
    matched contiguously in both strings) from the last, those of `min_run_length` or
    more, each [[start, end] in a, [start, end] in b] (and its length)."""
    common = bytearray(total)
    runs: list[list] = []
    run: list[int] | None = None  # [a_start, a_end, b_start, b_end] of the current run
    i, j, left = len(a), len(b), total
    while i > 0 and j > 0:
        close = False
        if a[i - 1] == b[j - 1]:
            common[left - 1] = a[i - 1]
            if run is None:
                run = [i - 1, i - 1, j - 1, j - 1]
            elif run[0] == i and run[2] == j:  # extends the run backwards
                run[0] -= 1
                run[2] -= 1
            else:
                close = True
            if run[0] == 0 or run[2] == 0:
                close = True
            left, i, j = left - 1, i - 1, j - 1
        else:
            if length_at(i - 1, j) > length_at(i, j - 1):
                i -= 1
            else:
                j -= 1
            close = run is not None
        if close and run is not None:
            run_length = run[1] - run[0] + 1
            if min_run_length == 0 or run_length >= min_run_length:
                entry: list = [[run[0], run[1]], [run[2], run[3]]]
                if with_run_length:
                    entry.append(run_length)
                runs.append(entry)
            run = None
    return bytes(common), runs


# ---------------------------------------------------------------------- compare-and-delete


@command("delex")
def delex(db: Keyspace, args: list[bytes]) -> Reply:
    key = args[1]
    argc = len(args)
    if argc == 2:
        if db.lookup(key) is None or not db.delete(key):
            return 0
        db.notify("g", b"del", key)
        return 1
    if argc != 4:
        raise CommandError(SYNTAX)
    condition = args[2].upper()
    if condition not in (b"IFEQ", b"IFNE"):
        raise CommandError(SYNTAX)
    current = db.lookup_string(key)
    if current is None:
        return 0
    equal = current == args[3]
    if equal != (condition == b"IFEQ"):
        return 0
    db.delete(key)
    db.notify("g", b"del", key)
    return 1

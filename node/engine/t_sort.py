"""SORT and SORT_RO, as Redis 7.0's sort.c: BY (a pattern, `nosort`, hash fields with
->), LIMIT, GET (# and hash fields), ASC/DESC, ALPHA, STORE, with its replies, errors
and order of checks.

slotraft is a Redis Cluster: a BY or GET pattern must name keys of the sorted key's
slot. Redis 7.0 in cluster mode refuses every BY pattern and every GET; here a pattern
whose slot is the key's (Redis 7.2's patternHashSlot rule: a {tag} before any wildcard)
is allowed, others get Redis 7.0's cluster error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from node.engine.errors import CommandError
from node.engine.hash_value import HashValue
from node.engine.keyspace import Keyspace
from node.engine.list_value import ListValue
from node.engine.parsing import to_int
from node.engine.registry import command
from node.engine.set_value import SetValue
from node.engine.work import COMPARED_PER_ELEMENT
from node.engine.zset_value import ZSetValue, parse_score
from proto.errors import NOT_INTEGER, SYNTAX, WRONGTYPE
from proto.resp import Reply
from proto.slots import crc16, key_slot

BY_DENIED = b"ERR BY option of SORT denied in Cluster mode."
GET_DENIED = b"ERR GET option of SORT denied in Cluster mode."
NOT_DOUBLE = b"ERR One or more scores can't be converted into double"
_LONG_MIN = -(2**63)
_LONG_MAX = 2**63 - 1
_C_SPACE = b" \t\n\v\f\r"


def pattern_slot(pattern: bytes) -> int:
    """patternHashSlot: the slot of every key the pattern can form, or -1 when they may
    be in different slots (a wildcard or an escape before a complete {tag})."""
    start = -1
    for index, char in enumerate(pattern):
        if char in b"*?[\\":
            return -1
        if start == -1 and char == 0x7B:  # {
            start = index
        elif start >= 0 and char == 0x7D:  # }
            if index == start + 1:
                start = -2  # {}: the whole key is hashed
            else:
                return crc16(pattern[start + 1 : index]) & 0x3FFF
    return crc16(pattern) & 0x3FFF


@dataclass(slots=True)
class _Options:
    desc: bool = False
    alpha: bool = False
    start: int = 0
    count: int = -1
    store: bytes | None = None
    by: bytes | None = None
    dont_sort: bool = False
    gets: list[bytes] = field(default_factory=list)


def _c_string(data: bytes) -> bytes:
    """What C's string functions see of an sds: up to the first NUL."""
    return data.split(b"\x00", 1)[0]


def _parse(args: list[bytes], read_only: bool) -> _Options:
    options = _Options()
    slot = key_slot(args[1])
    index = 2
    while index < len(args):
        option = args[index].lower()
        left = len(args) - index - 1
        if option == b"asc":
            options.desc = False
        elif option == b"desc":
            options.desc = True
        elif option == b"alpha":
            options.alpha = True
        elif option == b"limit" and left >= 2:
            start, count = to_int(args[index + 1]), to_int(args[index + 2])
            if start is None or count is None:
                raise CommandError(NOT_INTEGER)
            options.start, options.count = start, count
            index += 2
        elif not read_only and option == b"store" and left >= 1:
            options.store = args[index + 1]
            index += 1
        elif option == b"by" and left >= 1:
            options.by = args[index + 1]
            if b"*" not in _c_string(options.by):
                options.dont_sort = True
            elif pattern_slot(options.by) != slot:
                raise CommandError(BY_DENIED)
            index += 1
        elif option == b"get" and left >= 1:
            pattern = args[index + 1]
            if _c_string(pattern) != b"#" and pattern_slot(pattern) != slot:
                raise CommandError(GET_DENIED)
            options.gets.append(pattern)
            index += 1
        else:
            raise CommandError(SYNTAX)
        index += 1
    return options


def lookup_by_pattern(db: Keyspace, pattern: bytes, element: bytes) -> bytes | None:
    """lookupKeyByPattern: `#` is the element itself; otherwise the first `*` is replaced
    by the element, and `->field` after it reads a hash field (only strings and hashes
    answer; other types, missing keys and patterns without `*` give nothing)."""
    text = _c_string(pattern)
    if text == b"#":
        return element
    star = text.find(b"*")
    if star == -1:
        return None
    arrow = text.find(b"->", star + 1)
    field_name = b""
    if arrow != -1 and arrow + 2 < len(text):
        field_name = pattern[arrow + 2 :]
    suffix_end = len(pattern) - (len(field_name) + 2 if field_name else 0)
    name = pattern[:star] + element + pattern[star + 1 : suffix_end]
    value = db.lookup_read(name)
    if value is None:
        return None
    if not field_name:
        if type(value) is bytes or type(value) is bytearray:
            return bytes(value)
        return None
    if isinstance(value, HashValue):
        return value.get(field_name)
    return None


def _score(text: bytes) -> float | None:
    """strtod over the C string as SORT reads a weight: leading spaces skipped, nothing
    after the number; an empty string is 0; NaN and out of range are errors (None)."""
    text = _c_string(text)
    if not text:
        return 0.0
    stripped = text.lstrip(_C_SPACE)
    if not stripped:
        return None
    try:
        return parse_score(stripped)
    except CommandError:
        return None


def _elements(db: Keyspace, value: Any, options: _Options) -> tuple[list[bytes], int, int]:
    """The elements to sort (or, with nothing to sort, already in order and cut to the
    LIMIT) and the start and end of the output among them (end < start: none)."""
    size = len(value) if value is not None else 0
    start = min(max(options.start, 0), size)
    count = min(max(options.count, -1), size)
    end = size if count < 0 else start + count - 1
    if start >= size:
        start, end = size - 1, size - 2
    if end >= size:
        end = size - 1
    if value is None:
        return [], start, end
    ordered = isinstance(value, ListValue | ZSetValue)
    if ordered and options.dont_sort:
        if end < start:
            return [], 0, -1
        length = end - start + 1
        db.charge(length)
        if isinstance(value, ListValue):
            if options.desc:
                chunk = value.range(size - end - 1, size - start - 1)
                chunk.reverse()
            else:
                chunk = value.range(start, end)
        elif options.desc:
            entries = value.window(size - 1 - end, size - start, reverse=True)
            chunk = [member for member, _ in entries]
        else:
            chunk = [member for member, _ in value.window(start, end + 1)]
        return chunk, 0, length - 1
    db.charge(size)
    if isinstance(value, ListValue):
        return list(value), start, end
    if isinstance(value, SetValue):
        if value.is_intset:  # an intset iterates in ascending order
            return sorted(value, key=int), start, end
        return value.members(), start, end
    return [member for member, _ in value], start, end


def _sorted(db: Keyspace, elements: list[bytes], options: _Options) -> list[bytes]:
    """sortCompare over the elements. Python's sort is stable, as the merge sort behind
    glibc's qsort: elements that compare equal keep their order, DESC included (it
    negates the comparison). Numbers tie-break on the elements' bytes; ALPHA compares
    C strings (strcoll in the C locale) unless the result is stored (memcmp)."""
    by = options.by
    store = options.store is not None
    if by is not None:
        db.charge(len(elements))  # one lookup per element
    keys: list[Any]
    if options.alpha:
        if by is None:
            keys = [e if store else _c_string(e) for e in elements]
        else:
            found = [lookup_by_pattern(db, by, e) for e in elements]
            # A missing weight sorts before any other.
            keys = [(0, b"") if f is None else (1, f if store else _c_string(f)) for f in found]
    else:
        keys = []
        for element in elements:
            weight = element if by is None else lookup_by_pattern(db, by, element)
            score = 0.0 if weight is None else _score(weight)
            if score is None:
                raise CommandError(NOT_DOUBLE)
            keys.append((score, element))
    order = sorted(range(len(elements)), key=keys.__getitem__, reverse=options.desc)
    return [elements[i] for i in order]


def _sort(db: Keyspace, args: list[bytes], read_only: bool) -> Reply:
    options = _parse(args, read_only)
    value = db.lookup_read(args[1])
    if value is not None and not isinstance(value, ListValue | SetValue | ZSetValue):
        raise CommandError(WRONGTYPE)
    stored = options.store is not None
    if options.dont_sort and isinstance(value, SetValue) and (stored or db.in_script):
        # A set has no order of its own: what is stored, or what a script sees (and may
        # write), must not depend on it.
        options.dont_sort, options.alpha, options.by = False, True, None
    if isinstance(value, ZSetValue) and db.mutating:
        value.convert_to_skiplist()  # as Redis converts the set it sorts, for good
    elements, start, end = _elements(db, value, options)
    if not options.dont_sort:
        db.charge(len(elements) * max(1, len(elements).bit_length()) // COMPARED_PER_ELEMENT)
        elements = _sorted(db, elements, options)
    chosen = elements[start : end + 1] if end >= start else []
    gets = options.gets
    db.charge(len(chosen) * max(1, len(gets)))
    if not gets:
        output: list[bytes | None] = list(chosen)
    else:
        output = [lookup_by_pattern(db, pattern, e) for e in chosen for pattern in gets]
    if options.store is None:
        return output
    target = options.store
    if output:
        db.set(target, ListValue(b"" if item is None else item for item in output))
        db.notify("l", b"sortstore", target)
    elif db.delete(target):
        db.notify("g", b"del", target)
    return len(output)


@command("sort")
def sort(db: Keyspace, args: list[bytes]) -> Reply:
    return _sort(db, args, read_only=False)


@command("sort_ro")
def sort_ro(db: Keyspace, args: list[bytes]) -> Reply:
    return _sort(db, args, read_only=True)

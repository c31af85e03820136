"""Stream ID arguments as Redis 7.0's t_stream.c parses them (streamGenericParseIDOrReply,
streamParseIntervalIDOrReply), and the ID arithmetic around them."""

from __future__ import annotations

from node.engine.errors import CommandError
from node.engine.parsing import to_int
from node.engine.stream_value import MAX_ID, SEQ_MASK

INVALID_ID = b"ERR Invalid stream ID specified as stream command argument"
INVALID_START = b"ERR invalid start ID for the interval"
INVALID_END = b"ERR invalid end ID for the interval"
_ULLONG_MAX = (1 << 64) - 1
_C_SPACE = b" \t\n\v\f\r"


def string_to_ull(text: bytes) -> int | None:
    """util.c's string2ull: string2ll (refusing negatives), else strtoull in base 10, which
    also takes leading white space, a sign ('-' negates modulo 2**64) and no trailing text."""
    value = to_int(text)
    if value is not None:
        return value if value >= 0 else None
    if not text:
        return None
    position = 0
    while position < len(text) and text[position] in _C_SPACE:
        position += 1
    negative = False
    if position < len(text) and text[position] in b"+-":
        negative = text[position] == ord("-")
        position += 1
    digits = text[position:]
    if not digits or not digits.isdigit():
        return None
    number = int(digits)
    if number > _ULLONG_MAX:
        return None  # ERANGE
    return (-number) & _ULLONG_MAX if negative else number


def parse_id(
    arg: bytes, missing_seq: int = 0, strict: bool = False, seq_star: bool = False
) -> tuple[int, bool]:
    """(ID, whether its sequence was given). `strict` refuses "-" and "+"; `seq_star`
    (XADD) accepts "<ms>-*", whose sequence is then not given."""
    if len(arg) > 127:
        raise CommandError(INVALID_ID)
    text = arg.split(b"\x00", 1)[0]  # Redis reads it as a C string
    if text in (b"-", b"+"):
        if strict:
            raise CommandError(INVALID_ID)
        return (0 if text == b"-" else MAX_ID), True
    ms_text, dash, seq_text = text.partition(b"-")
    ms = string_to_ull(ms_text)
    if ms is None:
        raise CommandError(INVALID_ID)
    if not dash:
        return (ms << 64) | missing_seq, True
    if seq_star and seq_text == b"*":
        return ms << 64, False
    seq = string_to_ull(seq_text)
    if seq is None:
        raise CommandError(INVALID_ID)
    return (ms << 64) | seq, True


def parse_strict_id(arg: bytes, missing_seq: int = 0) -> int:
    return parse_id(arg, missing_seq, strict=True)[0]


def parse_interval_id(arg: bytes, missing_seq: int) -> tuple[int, bool]:
    """A range bound: "(" before an ID excludes it (the ID then strict)."""
    if len(arg) > 1 and arg[:1] == b"(":
        return parse_id(arg[1:], missing_seq, strict=True)[0], True
    return parse_id(arg, missing_seq)[0], False


def range_start(arg: bytes) -> int:
    stream_id, exclusive = parse_interval_id(arg, 0)
    if exclusive:
        if stream_id == MAX_ID:
            raise CommandError(INVALID_START)
        stream_id += 1
    return stream_id


def range_end(arg: bytes) -> int:
    stream_id, exclusive = parse_interval_id(arg, SEQ_MASK)
    if exclusive:
        if stream_id == 0:
            raise CommandError(INVALID_END)
        stream_id -= 1
    return stream_id

"""Argument parsing with Redis's exact acceptance rules (util.c: string2ll, string2ld,
strtod checks), which are stricter than Python's int() and float()."""

from __future__ import annotations

import math
import re

import numpy as np

from node.engine.errors import CommandError
from proto.errors import NOT_INTEGER

LLONG_MIN = -(2**63)
LLONG_MAX = 2**63 - 1

# string2ll: '0' alone, or an optional '-' and a digit 1-9 followed by digits ('-0' is refused).
_INTEGER = re.compile(rb"(?:0|-?[1-9][0-9]*)\Z")
# strtod as Redis uses it: no leading space, no trailing garbage, no NaN.
_FLOAT = re.compile(
    rb"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?)\Z",
    re.IGNORECASE,
)
_HEX_FLOAT = re.compile(
    rb"[+-]?0x(?:[0-9a-f]+\.?[0-9a-f]*|\.[0-9a-f]+)(?:p[+-]?[0-9]+)?\Z", re.IGNORECASE
)


def to_int(arg: bytes) -> int | None:
    """The value of a canonical 64-bit integer string, or None (string2ll)."""
    if len(arg) > 20 or not _INTEGER.match(arg):
        return None
    value = int(arg)
    if value < LLONG_MIN or value > LLONG_MAX:
        return None
    return value


def parse_int(arg: bytes, error: bytes = NOT_INTEGER) -> int:
    value = to_int(arg)
    if value is None:
        raise CommandError(error)
    return value


def to_float(arg: bytes) -> float | None:
    """The value of a float string as Redis's strtod-based parsing accepts it, or None.
    Accepts 'inf', '-inf', exponents and hex floats; refuses spaces and NaN."""
    if not arg or len(arg) > 5000:
        return None
    if _FLOAT.match(arg):
        value = float(arg)
    elif _HEX_FLOAT.match(arg):
        value = _hex_float(arg)
    else:
        return None
    if math.isnan(value):
        return None
    return value


def _hex_float(arg: bytes) -> float:
    """strtod's hex floats; an overflowing one is infinite, as HUGE_VAL."""
    text = arg.decode().lower()
    if "p" not in text:
        text += "p0"
    try:
        return float.fromhex(text)
    except OverflowError:
        return -math.inf if text.startswith("-") else math.inf


def to_long_double(arg: bytes) -> np.longdouble | None:
    """string2ld: a long double for INCRBYFLOAT/HINCRBYFLOAT; no spaces, no NaN, no
    overflow (an explicit 'inf' is accepted and the command then refuses the result)."""
    if not arg or len(arg) > 5000 or arg[:1].isspace() or arg[-1:].isspace():
        return None
    if not (_FLOAT.match(arg) or _HEX_FLOAT.match(arg)):
        return None
    try:
        if _HEX_FLOAT.match(arg):
            value = np.longdouble(_hex_float(arg))
        else:
            value = np.longdouble(arg.decode())
    except (ValueError, OverflowError):
        return None
    if np.isnan(value) or (np.isinf(value) and b"inf" not in arg.lower()):
        return None
    return value


def format_long_double(value: np.longdouble) -> bytes:
    """ld2string in human-friendly mode: '%.17Lf' with trailing zeros (and '.') removed,
    '-0' printed as '0'."""
    text = np.format_float_positional(value, precision=17, unique=False, trim="-")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text == "-0":
        text = "0"
    return text.encode()

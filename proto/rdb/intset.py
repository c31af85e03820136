"""Redis's intset (intset.c): sorted distinct integers of one width (2, 4 or 8 bytes),
little endian, after a header of the width and the count."""

from __future__ import annotations

import itertools
import struct

from proto.rdb.reader import FormatError

_FORMATS = {2: "h", 4: "i", 8: "q"}


def encode(values: list[int]) -> bytes:
    """The intset of distinct `values` (sorted here), at the narrowest width they fit."""
    ordered = sorted(values)
    width = 2
    if ordered and (ordered[0] < -(1 << 31) or ordered[-1] >= 1 << 31):
        width = 8
    elif ordered and (ordered[0] < -(1 << 15) or ordered[-1] >= 1 << 15):
        width = 4
    header = struct.pack("<II", width, len(ordered))
    return header + struct.pack(f"<{len(ordered)}{_FORMATS[width]}", *ordered)


def decode(blob: bytes) -> list[int]:
    """intsetValidateIntegrity with deep checks: a known width, the size the count
    implies, strictly ascending values."""
    if len(blob) < 8:
        raise FormatError("intset too short")
    width, count = struct.unpack_from("<II", blob)
    if width not in _FORMATS:
        raise FormatError("intset encoding")
    if 8 + width * count != len(blob):
        raise FormatError("intset size")
    values = list(struct.unpack_from(f"<{count}{_FORMATS[width]}", blob, 8))
    if any(a >= b for a, b in itertools.pairwise(values)):
        raise FormatError("intset order")
    return values

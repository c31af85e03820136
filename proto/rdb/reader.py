"""A bounded reader over a byte string: every read checks the bytes are there, so a
corrupt length can never make a decoder read past the end or allocate more than the
input holds."""

from __future__ import annotations

import struct
from collections.abc import Callable


class FormatError(ValueError):
    """Malformed serialized data (RESTORE answers "Bad data format")."""


class Reader:
    __slots__ = ("charge", "data", "end", "pos")

    def __init__(
        self,
        data: bytes,
        pos: int = 0,
        end: int | None = None,
        charge: Callable[[int], None] | None = None,
    ) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end
        # Told the size of each string about to be decompressed (it may raise to stop):
        # LZF output can be ~100 times its input, more than the payload's size says.
        self.charge = charge

    def remaining(self) -> int:
        return self.end - self.pos

    def take(self, count: int) -> bytes:
        if count < 0 or count > self.end - self.pos:
            raise FormatError("truncated")
        start = self.pos
        self.pos += count
        return self.data[start : self.pos]

    def byte(self) -> int:
        if self.pos >= self.end:
            raise FormatError("truncated")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def unpack(self, fmt: struct.Struct) -> tuple[int | float, ...]:
        return fmt.unpack(self.take(fmt.size))

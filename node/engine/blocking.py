"""What a blocking command (BLPOP, BLMOVE, BZPOPMIN, ...) returns when it would block."""

from __future__ import annotations

import math

from node.engine.errors import TIMEOUT_NEGATIVE, TIMEOUT_NOT_FLOAT, CommandError
from proto.resp import NULL_ARRAY, Reply


class WouldBlock:
    """Nothing to pop yet: the node parks the request until one of `keys` changes or
    `timeout` seconds pass (0 means forever). Nothing was modified."""

    __slots__ = ("keys", "timeout")

    def __init__(self, keys: list[bytes], timeout: float) -> None:
        self.keys = keys
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"WouldBlock(keys={self.keys!r}, timeout={self.timeout})"


def parse_timeout(arg: bytes) -> float:
    """A blocking timeout in seconds, validated as Redis's getTimeoutFromObjectOrReply."""
    try:
        text = arg.decode("ascii")
        if text.strip() != text or not text:
            raise ValueError
        value = float(text)
    except (UnicodeDecodeError, ValueError):
        raise CommandError(TIMEOUT_NOT_FLOAT) from None
    if math.isnan(value) or math.isinf(value):
        raise CommandError(TIMEOUT_NOT_FLOAT)
    if value < 0:
        raise CommandError(TIMEOUT_NEGATIVE)
    return value


def timeout_reply(args: list[bytes]) -> Reply:
    """The reply of a blocking command whose timeout passed: a null bulk for BLMOVE and
    BRPOPLPUSH, a null array for the pops."""
    name = args[0].lower()
    if name in (b"blmove", b"brpoplpush"):
        return None
    return NULL_ARRAY

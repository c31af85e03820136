"""Inline commands ("SET a b\\r\\n" typed into telnet): Redis's sdssplitargs rules
(proto/splitargs.py)."""

from __future__ import annotations

from proto.splitargs import split_args

# Lines without any of these split exactly like bytes.split().
_SLOW_PATH = frozenset(b"\"'\0\v\f")


def split_inline(line: bytes) -> list[bytes] | None:
    """The arguments of one inline request line, or None for unbalanced quotes (or a
    closing quote followed by something other than a space). Empty arguments are dropped,
    as processInlineBuffer does."""
    if not _SLOW_PATH.intersection(line):
        return line.split()
    args = split_args(line)
    if args is None:
        return None
    return [arg for arg in args if arg]

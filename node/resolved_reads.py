"""Blocking reads whose arguments the first application made concrete (XREAD's `$`).

XREAD BLOCK ... STREAMS s $ waits for entries after the stream's last ID *when it was
first applied*. The command is applied again when a key changes (the leader proposes it
again) and after a leader change (the router sends it again, same client and sequence):
re-resolving `$` then would skip the entries that arrived meanwhile. So the first
application, which runs on every replica through the log, records the resolved arguments
in the client's session under the request's sequence (snapshots carry them with the
session's replies), and every later application of that sequence uses them. The record
is replaced by the real replies once the read is served.

XREADGROUP keeps that it blocked (its GROUP option becomes an internal spelling): when
its key or group is gone at a retry, it answers what Redis answers a blocked client then.

A record is marked by a first element that no RESP reply can be (a RESP reply starts with
its type byte)."""

from __future__ import annotations

from proto.commands import timeout_index

_MARKER = b"\x00resolved-args"


def record_of(args: list[bytes]) -> list[bytes]:
    """What the session keeps for a blocked read whose arguments were resolved."""
    return [_MARKER, *args]


def resolved_args(stored: list[bytes]) -> list[bytes] | None:
    """The resolved arguments if `stored` is such a record, None for real replies."""
    if stored and stored[0] == _MARKER:
        return list(stored[1:])
    return None


def apply_resolved(current: list[bytes], resolved: list[bytes]) -> list[bytes]:
    """The resolved arguments with the timeout of the request as sent now (the router
    lowers it on a retry)."""
    if len(current) != len(resolved):
        return resolved
    try:
        position = timeout_index(current)
    except (ValueError, IndexError):
        return resolved
    args = list(resolved)
    args[position] = current[position]
    return args

"""Blocking reads whose arguments the first application made concrete (XREAD's `$`).

XREAD BLOCK ... STREAMS s $ waits for entries after the stream's last ID *when it was
first applied*. The command is applied again when a key changes (the leader proposes it
again) and after a leader change (the router sends it again, same client and sequence):
re-resolving `$` then would skip the entries that arrived meanwhile. So the first
application, which runs on every replica through the log, records the resolved arguments
in the client's session under the request's sequence (snapshots carry them with the
session's replies), and every later application of that sequence uses them. The record
is replaced by the real replies once the read is served.

A record is marked by a first element that no RESP reply can be (a RESP reply starts with
its type byte)."""

from __future__ import annotations

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
    """The request as sent now with its `$` replaced by what was resolved: the rest (the
    router lowers the timeout of a retry) stays as it is sent now."""
    if len(current) != len(resolved):
        return resolved
    return [new if old == b"$" else old for old, new in zip(current, resolved)]

"""Single-flight reads (issue 27): identical concurrent reads of a key, one backend read.

When many connections on one router read the same hot key at once (GET of a cache entry
everyone misses or hits), each read would reach the shard's leader, be ordered (ReadIndex
or the log) and answered on its own. Here a read-only command identical to one already on
its way (same arguments, same shard, same protocol version and same consistency mode) is
not sent: it waits for that one's reply, which every caller gets.

What it never merges:
- across a write. A write of a key (from any connection of this router) closes the reads
  of that key in flight when it leaves and again when its reply comes back, and while it
  is pending no read of the key is merged: a read a connection sends after its own write
  was acknowledged can only join a read that left after that acknowledgement, so it sees
  the write (read-your-writes, per connection and across this router's connections). A
  write whose keys are not known (FLUSHALL, a keyless script) does the same for its shard.
- across consistency modes (READONLY follower reads apart from leader reads) or RESP2 and
  RESP3 (the reply bytes differ);
- a command whose reply may differ between two calls with the same arguments (RANDOM:
  SRANDMEMBER, HRANDFIELD, ...), a blocking one, or several commands sent together (a
  pipeline's batch is the connection's, in its order).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from proto.commands import COMMANDS, CommandSpec, Flag, resolve

Send = Callable[[], Awaitable[list[bytes]]]
_BY_SPELLING = COMMANDS.by_spelling
_SHARD_WIDE = b""  # the "key" of a write whose keys are not known: every key of its shard


@dataclass
class SingleFlightStats:
    reads: int = 0  # read commands that could have been merged (one command, keyed, ...)
    sent: int = 0  # of those, how many went to the backend
    merged: int = 0  # of those, how many waited for another's reply instead
    not_merged_after_write: int = 0  # sent alone: a write of their key was pending


@dataclass
class _Flight:
    future: asyncio.Future[list[bytes]]
    slots: list[tuple[int, bytes]]  # (shard, key) of the read
    open: bool = True  # accepts joiners
    joiners: int = 0


@dataclass
class SingleFlight:
    stats: SingleFlightStats = field(default_factory=SingleFlightStats)
    # Reads on their way, by identity; those per (shard, key), to close them on a write.
    _flights: dict[tuple[Any, ...], _Flight] = field(default_factory=dict)
    _by_key: dict[tuple[int, bytes], list[tuple[Any, ...]]] = field(default_factory=dict)
    # Writes on their way, per (shard, key) (key _SHARD_WIDE: the whole shard).
    _pending_writes: dict[tuple[int, bytes], int] = field(default_factory=dict)

    def execute(
        self,
        shard: int,
        commands: list[list[bytes]],
        resp3: bool,
        read_only: bool,
        consistency: int,
        send: Send,
    ) -> Awaitable[list[bytes]]:
        """The replies of `commands` for `shard`: sent with `send()`, or those of an
        identical read already on its way."""
        if not read_only:
            return self._write(shard, commands, send)
        if len(commands) != 1:
            return send()
        args = commands[0]
        spec = _spec(args)
        if spec is None or spec.is_blocking or spec.flags & Flag.RANDOM:
            return send()
        keys = spec.keys(args)
        if not keys:
            return send()
        stats = self.stats
        stats.reads += 1
        slots = [(shard, bytes(key)) for key in keys]
        pending = self._pending_writes
        if pending and ((shard, _SHARD_WIDE) in pending or any(s in pending for s in slots)):
            stats.not_merged_after_write += 1
            stats.sent += 1
            return send()
        identity = (shard, resp3, consistency, *map(bytes, args))
        flight = self._flights.get(identity)
        if flight is not None and flight.open:
            stats.merged += 1
            flight.joiners += 1
            return _follow(flight.future)
        stats.sent += 1
        future = asyncio.ensure_future(send())
        flight = _Flight(future, slots)
        self._flights[identity] = flight
        for slot in slots:
            self._by_key.setdefault(slot, []).append(identity)
        future.add_done_callback(lambda _: self._landed(identity, flight))
        # The first caller gets its own future too: its cancellation (its client went
        # away) must not cancel the read the others wait for.
        return _follow(future)

    def _landed(self, identity: tuple[Any, ...], flight: _Flight) -> None:
        if self._flights.get(identity) is flight:
            del self._flights[identity]
        for slot in flight.slots:
            identities = self._by_key.get(slot)
            if identities is not None and identity in identities:
                identities.remove(identity)
                if not identities:
                    del self._by_key[slot]

    def _write(self, shard: int, commands: list[list[bytes]], send: Send) -> Awaitable[list[bytes]]:
        slots = _written_slots(shard, commands)
        for slot in slots:
            self._pending_writes[slot] = self._pending_writes.get(slot, 0) + 1
        self._close(shard, slots)
        future = asyncio.ensure_future(send())
        # The caller's own future completes only after the bookkeeping below: whoever
        # sees the write acknowledged cannot read before its key is closed again.
        mine: asyncio.Future[list[bytes]] = future.get_loop().create_future()

        def done(landed: asyncio.Future[list[bytes]]) -> None:
            for slot in slots:
                count = self._pending_writes[slot] - 1
                if count:
                    self._pending_writes[slot] = count
                else:
                    del self._pending_writes[slot]
            self._close(shard, slots)
            _copy(landed, mine)

        future.add_done_callback(done)
        return mine

    def _close(self, shard: int, slots: list[tuple[int, bytes]]) -> None:
        """No more joiners for the reads in flight of these keys."""
        if (shard, _SHARD_WIDE) in slots:
            for flight in self._flights.values():
                if flight.slots[0][0] == shard:
                    flight.open = False
            return
        for slot in slots:
            for identity in self._by_key.get(slot, ()):
                self._flights[identity].open = False


def _spec(args: list[bytes]) -> CommandSpec | None:
    spec = _BY_SPELLING.get(args[0])
    if spec is None or spec.subcommands:
        resolved = resolve(args)
        return resolved if type(resolved) is CommandSpec else None
    return spec


def _written_slots(shard: int, commands: list[list[bytes]]) -> list[tuple[int, bytes]]:
    """The (shard, key) pairs the commands may write; the whole shard for a command whose
    keys the table cannot tell (keyless writes, scripts without keys, unknown names)."""
    slots: dict[tuple[int, bytes], None] = {}
    for args in commands:
        spec = _spec(args)
        if spec is not None and spec.is_read_only:
            continue
        keys = spec.keys(args) if spec is not None else []
        if not keys:
            return [(shard, _SHARD_WIDE)]
        for key in keys:
            slots[(shard, bytes(key))] = None
    return list(slots)


def _follow(source: asyncio.Future[list[bytes]]) -> asyncio.Future[list[bytes]]:
    """A future of its own with `source`'s outcome."""
    mine: asyncio.Future[list[bytes]] = source.get_loop().create_future()
    if source.done():
        _copy(source, mine)
    else:
        source.add_done_callback(lambda done: _copy(done, mine))
    return mine


def _copy(done: asyncio.Future[list[bytes]], mine: asyncio.Future[list[bytes]]) -> None:
    if mine.done():  # its caller went away
        if not done.cancelled():
            done.exception()  # retrieved: no "never retrieved" warning
        return
    if done.cancelled():
        mine.cancel()
    elif (failure := done.exception()) is not None:
        mine.set_exception(failure)
    else:
        mine.set_result(done.result())

"""One request per shard per event-loop turn, whichever client connections the commands
came from.

Every request costs a fixed amount on its way through the router, the leader and the log
(a protobuf message, a sequence number and its session-table record on every replica, a
future, a timer, a reply message), whatever number of commands it carries. With fifty
clients each sending one command, one request per client paid that fifty times per turn;
merged, once. The merged request keeps every guarantee of its parts: its commands run in
order (each connection's commands stay contiguous and in their order), and a retry
carries the request's one (client id, sequence), so it is applied once as a whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from itertools import chain
from typing import NamedTuple

from proto import slotraft_pb2 as pb
from proto.kv_commands import set_commands
from proto.running_loop import running_loop
from router.backend import WriteMarks

# A merged request stops growing past either bound; a command larger than the byte bound
# still travels, alone.
MAX_MERGED_COMMANDS = 2048
MAX_MERGED_BYTES = 1 << 20


class MergeKey(NamedTuple):
    shard: int
    resp3: bool
    read_only: bool
    consistency: pb.Consistency
    writer: int = 0  # KvRequest.writer: a NOLOOP tracking client's writes go apart
    db: int = 0  # KvRequest.db: SELECT's database


class _Part(NamedTuple):
    future: asyncio.Future[list[bytes]]
    start: int
    length: int  # (not `count`: that would hide tuple.count)
    marks: WriteMarks | None  # its connection's (WAIT): the request's log index goes there


class _Gathering:
    __slots__ = ("commands", "parts", "size")

    def __init__(self) -> None:
        self.commands: list[list[bytes]] = []
        self.parts: list[_Part] = []
        self.size = 0


StartRequest = Callable[[MergeKey, pb.KvRequest], "asyncio.Future[pb.KvReply]"]


class RequestCoalescer:
    def __init__(self, start: StartRequest, sent: Callable[[], None] = lambda: None) -> None:
        """start(key, request): send a merged request, the future of its (OK) reply;
        sent(): called after each turn's requests were started (to write them out now)."""
        self._start = start
        self._sent = sent
        self._gathering: dict[MergeKey, _Gathering] = {}
        self._flush_scheduled = False

    def add(
        self, key: MergeKey, commands: list[list[bytes]], marks: WriteMarks | None = None
    ) -> asyncio.Future[list[bytes]]:
        """The future of these commands' replies; they leave at the end of this turn, and
        the log index of the entry that applied them goes into `marks`. A
        batch past the bounds (one client's long pipeline of large commands) is cut into
        requests within them: a pipeline is not atomic, and a huge request would be a huge
        log entry that every replica must decode, write and apply in one piece."""
        size = sum(map(len, chain.from_iterable(commands)))
        if size <= MAX_MERGED_BYTES and len(commands) <= MAX_MERGED_COMMANDS:
            return self._add(key, commands, size, marks)
        pieces: list[asyncio.Future[list[bytes]]] = []
        start = 0
        while start < len(commands):
            end, piece_size = start, 0
            while end < len(commands) and end - start < MAX_MERGED_COMMANDS:
                command_size = sum(map(len, commands[end]))
                if end > start and piece_size + command_size > MAX_MERGED_BYTES:
                    break
                piece_size += command_size
                end += 1
            pieces.append(self._add(key, commands[start:end], piece_size, marks))
            start = end
        return _joined(self.loop, pieces)

    def _add(
        self, key: MergeKey, commands: list[list[bytes]], size: int, marks: WriteMarks | None
    ) -> asyncio.Future[list[bytes]]:
        loop = self.loop
        future: asyncio.Future[list[bytes]] = loop.create_future()
        gathering = self._gathering.get(key)
        if gathering is not None and (
            gathering.size + size > MAX_MERGED_BYTES
            or len(gathering.commands) + len(commands) > MAX_MERGED_COMMANDS
        ):
            # These would take it past a bound: it leaves now, without them.
            del self._gathering[key]
            self._send(key, gathering)
            gathering = None
        if gathering is None:
            gathering = self._gathering[key] = _Gathering()
        gathering.parts.append(_Part(future, len(gathering.commands), len(commands), marks))
        gathering.commands += commands
        gathering.size += size
        if len(gathering.commands) >= MAX_MERGED_COMMANDS or gathering.size >= MAX_MERGED_BYTES:
            del self._gathering[key]
            self._send(key, gathering)
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return future

    loop = running_loop

    def _flush(self) -> None:
        self._flush_scheduled = False
        gathered, self._gathering = self._gathering, {}
        for key, gathering in gathered.items():
            self._send(key, gathering)
        self._sent()

    def _send(self, key: MergeKey, gathering: _Gathering) -> None:
        request = pb.KvRequest(
            shard=key.shard,
            kind=pb.COMMANDS,
            resp3=key.resp3,
            read_only=key.read_only,
            consistency=key.consistency,
            writer=key.writer,
            db=key.db,
        )
        set_commands(request, gathering.commands)
        parts = gathering.parts
        shard = key.shard
        self._start(key, request).add_done_callback(lambda done: _share(done, parts, shard))


def _share(done: asyncio.Future[pb.KvReply], parts: list[_Part], shard: int) -> None:
    """Each part gets its slice of the replies, or the request's failure."""
    if done.cancelled():
        for part in parts:
            part.future.cancel()
        return
    failure = done.exception()
    if failure is not None:
        for part in parts:
            if not part.future.done():
                part.future.set_exception(failure)
                part.future.exception()  # its client may have gone: no "never retrieved"
        return
    reply = done.result()
    replies = reply.replies
    index = reply.log_index
    for future, start, count, marks in parts:
        if marks is not None and index > marks.get(shard, 0):  # note_write, inline
            marks[shard] = index
        if not future.done():
            future.set_result(replies[start : start + count])


def _joined(
    loop: asyncio.AbstractEventLoop, pieces: list[asyncio.Future[list[bytes]]]
) -> asyncio.Future[list[bytes]]:
    """One future of the pieces' replies, in order (the first failure fails it)."""
    joined: asyncio.Future[list[bytes]] = loop.create_future()
    remaining = len(pieces)

    def done(_piece: asyncio.Future[list[bytes]]) -> None:
        nonlocal remaining
        remaining -= 1
        if joined.done():
            return
        if _piece.cancelled():
            joined.cancel()
            return
        failure = _piece.exception()
        if failure is not None:
            joined.set_exception(failure)
        elif remaining == 0:
            joined.set_result([reply for piece in pieces for reply in piece.result()])

    for piece in pieces:
        piece.add_done_callback(done)
    return joined

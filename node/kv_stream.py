"""The Kv channel a router opens to a node: KvBatch frames in, KvReplyBatch frames out.

Requests go to their shard's replica as they arrive; replies go back in whatever order
they complete (each carries its request's id), those completed in one event-loop turn
in one frame.
"""

from __future__ import annotations

import asyncio
import logging

from node.host import NodeHost
from proto import framing
from proto import slotraft_pb2 as pb
from proto.acl_check import MAX_CALLER_RULES
from proto.databases import DATABASES
from proto.kv_commands import well_formed

log = logging.getLogger("slotraft.kv")


def _refusal(request: pb.KvRequest) -> str:
    """Why a request is refused before it reaches its shard ("" when it is not)."""
    if not well_formed(request):
        return "ERR malformed request: argument counts do not match"
    if len(request.caller) > MAX_CALLER_RULES:
        # Past the entry codec's bound: it would make the whole entry malformed.
        return "ERR the user's ACL rules are too long to run a script with"
    if request.db >= DATABASES:
        return "ERR DB index is out of range"
    return ""


class KvConnection:
    def __init__(self, host: NodeHost) -> None:
        self.host = host
        self.stream = framing.FrameProtocol(self._receive, self._closed)
        self.replies: list[pb.KvReply] = []
        self.flush_scheduled = False
        self.loop = asyncio.get_running_loop()

    def _receive(self, frame: bytes) -> None:
        host = self.host
        shards = host.shards
        deliver = self._deliver
        for request in pb.KvBatch.FromString(frame).requests:
            replica = shards.get(request.shard)
            if replica is None:
                self._queue(pb.KvReply(id=request.id, status=pb.UNKNOWN_SHARD))
                continue
            refusal = _refusal(request)
            if refusal:
                self._queue(pb.KvReply(id=request.id, status=pb.REJECTED, error=refusal))
                continue
            future = replica.submit(request)
            if future.done():
                deliver(future)
            else:
                future.add_done_callback(deliver)
        host.wake()

    def _deliver(self, future: asyncio.Future) -> None:
        if future.cancelled():
            return
        self._queue(future.result())

    def _queue(self, reply: pb.KvReply) -> None:
        self.replies.append(reply)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self.flush_scheduled = False
        replies, self.replies = self.replies, []
        if replies:
            self.stream.send(pb.KvReplyBatch(replies=replies).SerializeToString())

    def _closed(self, reason: Exception | None) -> None:
        if reason is not None:
            log.info("a router's Kv stream ended: %s", reason)

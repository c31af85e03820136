"""The node's half of `slotraft ctl move-slots` (Admin.SlotMove and Admin.SlotExport):
metadata steps proposed to the metadata group, shard steps proposed to a shard as slot
entries, and the keys of a fenced range read from the leader in chunks. Each step answers
once it applied here (or says who leads); the ctl re-drives them (slotraft/ctl_slots.py).
"""

from __future__ import annotations

import asyncio
import json
import marshal
import secrets
import time

from node import slot_entries
from node.entry_codec import EntryFormatError
from node.host import NodeHost
from node.raft import NotLeader, RaftError, Role
from node.slot_moves import Move, SlotMoveError, begin_command, check_move, step_command
from proto import slotraft_pb2 as pb
from proto.slots import SLOT_COUNT

METADATA_STEPS = frozenset({"move-begin", "move-commit", "move-done"})
STEP_TIMEOUT_S = 10.0
# A chunk stays under gRPC's default 4 MiB message (the ctl's channels keep it); one
# value larger than that cannot be moved (docs/DESIGN.md, "Moving slots").
MAX_CHUNK_BYTES = 3 << 20
MAX_ITEMS_BYTES = 4 << 20
# Sorted key lists of the ranges being exported (every key space's: node/slot_entries.py
# export_listing), kept between chunk requests (at most this many ranges; a range's keys
# do not change while it is fenced, except by expiry). A chunk's `last_key` is a cursor
# (slot_entries.encode_cursor): a key space id and a key, opaque to the ctl.
MAX_EXPORTS = 8


class SlotService:
    def __init__(self, host: NodeHost) -> None:
        self.host = host
        self.exports: dict[tuple[int, int, int, int, int], slot_entries.Listing] = {}

    def moves_json(self) -> str:
        assert self.host.metadata is not None
        return json.dumps(self.host.metadata.state.slot_moves.to_json())

    async def move(self, request: pb.SlotMoveRequest) -> pb.SlotMoveReply:
        if request.op == "list":
            # From the metadata leader once it holds everything committed: a follower may
            # not have applied the move its caller just began (read your own writes).
            meta = self.host.metadata
            assert meta is not None
            if meta.raft.role is not Role.LEADER or not meta.current:
                leader = meta.raft.leader if meta.raft.leader != self.host.node_id else 0
                return pb.SlotMoveReply(not_leader=True, leader_node=leader)
            return pb.SlotMoveReply(ok=True, moves_json=self.moves_json())
        if request.op in METADATA_STEPS:
            return await self._metadata_step(request)
        if request.op in slot_entries.OP_NAMES:
            return await self._shard_step(request)
        return pb.SlotMoveReply(ok=False, error=f"unknown slot move step {request.op!r}")

    async def _metadata_step(self, request: pb.SlotMoveRequest) -> pb.SlotMoveReply:
        host = self.host
        meta = host.metadata
        assert meta is not None
        if meta.raft.role is not Role.LEADER:
            return pb.SlotMoveReply(not_leader=True, leader_node=meta.raft.leader)
        moves = meta.state.slot_moves
        entry_id = secrets.token_hex(8)
        if request.op == "move-begin":
            move = Move(
                request.move_id, request.first, request.last, request.source, request.target
            )
            try:
                # The check every replica makes when the entry applies, made first here so
                # that a refused move is an error, not an entry applied as a no-op.
                source = check_move(
                    meta.state.map.shards, moves.moves, move.first, move.last, move.target
                )
                if source != move.source:
                    raise SlotMoveError(
                        f"slots {move.first}-{move.last} are held by shard {source}"
                    )
            except SlotMoveError as error:
                return pb.SlotMoveReply(ok=False, error=str(error), moves_json=self.moves_json())
            data = begin_command(move, entry_id)
        else:
            data = step_command(request.op, request.move_id, entry_id)
        try:
            meta.raft.propose(data)
        except NotLeader as error:
            return pb.SlotMoveReply(not_leader=True, leader_node=error.leader_id)
        except RaftError as error:
            return pb.SlotMoveReply(ok=False, error=str(error))
        host.wake()
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while entry_id not in moves.results:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return pb.SlotMoveReply(
                    ok=False, error="the metadata group did not apply it in time"
                )
            try:
                await asyncio.wait_for(host.next_cycle(), remaining)
            except TimeoutError:
                continue
        error_text = moves.results[entry_id]
        return pb.SlotMoveReply(ok=not error_text, error=error_text, moves_json=self.moves_json())

    async def _shard_step(self, request: pb.SlotMoveRequest) -> pb.SlotMoveReply:
        replica = self.host.shards.get(request.shard)
        if replica is None:
            return pb.SlotMoveReply(ok=False, error=f"no replica of shard {request.shard} here")
        if not replica.is_leader:
            return pb.SlotMoveReply(not_leader=True, leader_node=replica.raft.leader)
        items: list = []
        try:
            if request.items:
                if len(request.items) > MAX_ITEMS_BYTES:
                    raise EntryFormatError("too many bytes in one step")
                items = marshal.loads(request.items)
            entry = slot_entries.SlotEntry(
                int(time.time() * 1000),
                slot_entries.OP_NAMES[request.op],
                request.move_id.encode()[:64],
                request.first,
                request.last,
                items,
            )
            data = slot_entries.encode(entry)
            slot_entries.decode(data)  # what every replica will check
        except (EntryFormatError, ValueError, TypeError, EOFError) as error:
            return pb.SlotMoveReply(ok=False, error=f"malformed step: {error}")
        future = replica.propose_slot_entry(data)
        self.host.wake()
        try:
            result = await asyncio.wait_for(future, STEP_TIMEOUT_S)
        except NotLeader as error:
            return pb.SlotMoveReply(not_leader=True, leader_node=error.leader_id)
        except TimeoutError:
            return pb.SlotMoveReply(ok=False, error="the shard did not apply the step in time")
        if result.refused:
            return pb.SlotMoveReply(
                ok=False,
                keys=result.keys,
                error=f"{len(result.refused)} values could not be restored, "
                f"first {result.refused[0]!r}",
            )
        return pb.SlotMoveReply(ok=True, keys=result.keys)

    async def export(self, request: pb.SlotExportRequest) -> pb.SlotExportReply:
        replica = self.host.shards.get(request.shard)
        if replica is None:
            return pb.SlotExportReply(ok=False, error=f"no replica of shard {request.shard} here")
        if not replica.is_leader:
            return pb.SlotExportReply(not_leader=True, leader_node=replica.raft.leader)
        first, last = request.first, request.last
        slots = replica.state.slots
        if not first <= last < SLOT_COUNT:
            return pb.SlotExportReply(ok=False, error=f"slots {first}-{last} are not a range")
        fenced = not any(slots.served[first : last + 1])
        tracked = slots.tracking == (first, last)
        # A fenced range is frozen; a tracked one may change, but every key that changes is
        # noted, and copied again after the fence. Copying any other could miss writes.
        if not (fenced or tracked) or (request.dirty_only and not (fenced and tracked)):
            return pb.SlotExportReply(
                ok=False, error=f"slots {first}-{last} are not fenced or tracked here"
            )
        if request.dirty_only:
            mode = slot_entries.EXPORT_DIRTY
        else:
            mode = slot_entries.EXPORT_KEYS if request.keys_only else slot_entries.EXPORT_ALL
        databases = replica.state.engine.databases
        cache_key = (request.shard, first, last, replica.raft.term, mode)
        listing = self.exports.get(cache_key)
        if listing is None or not request.after:
            listing = slot_entries.export_listing(databases, slots, first, last, mode)
            self.exports[cache_key] = listing
            while len(self.exports) > MAX_EXPORTS:
                del self.exports[next(iter(self.exports))]
        budget = min(max(request.max_bytes, 1), MAX_CHUNK_BYTES)
        chunk = slot_entries.export_chunk(databases, listing, request.after, mode, budget)
        if chunk.done:
            self.exports.pop(cache_key, None)
        return pb.SlotExportReply(
            ok=True,
            items=marshal.dumps(chunk.items, 4),
            count=len(chunk.items),
            last_key=chunk.last_key,
            done=chunk.done,
        )

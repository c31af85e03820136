"""`slotraft ctl move-slots FIRST-LAST --to SHARD`: move a slot range, with its keys, to
another shard, online (docs/DESIGN.md, "Moving slots").

The move's state lives in the metadata group; this command drives it, and run again it
takes up a move of the same range and target where the metadata says it is (every step is
idempotent): begin, fence the source, clear the target's leftovers, copy the keys in
chunks, commit the new owner (a new map epoch), activate the target, drop the source's
copy, done. The keys of every database (SELECT 0-15) move: a key has its slot in each.
It prints its progress and exits 0 only when the move is done.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

import grpc

from node.slot_moves import COMMITTED, SlotMoveError, owner_of, parse_range
from proto import slotraft_pb2 as pb
from proto.topology import ShardPlacement
from slotraft.admin_client import AdminClient

STEP_BUDGET_S = 60.0  # one step through elections and restarts
CHUNK_BYTES = 1 << 20


class MoveFailed(Exception):
    pass


def add_arguments(actions: Any) -> None:
    move = actions.add_parser(
        "move-slots", help="move a slot range with its keys to another shard, online"
    )
    move.add_argument("range", help="FIRST-LAST (inclusive) or one slot")
    move.add_argument("--to", type=int, required=True, dest="target", help="the target shard")
    move.add_argument(
        "--chunk-bytes", type=int, default=CHUNK_BYTES, help="bytes of keys per log entry (1 MiB)"
    )


@dataclass(slots=True)
class Progress:
    keys: int = 0
    bytes: int = 0
    dropped: int = 0
    # When (time.monotonic()) the source was fenced and the target activated: the window
    # in which writes to the range wait (0.0: not in this run).
    fenced_at: float = 0.0
    activated_at: float = 0.0


class SlotMover:
    def __init__(
        self, admin: AdminClient, addresses: list[str], timeout: float, out: TextIO = sys.stdout
    ) -> None:
        self.admin = admin
        self.seeds = addresses
        self.timeout = timeout
        self.out = out
        self.node_addresses: dict[int, str] = {}

    def say(self, text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {text}", file=self.out, flush=True)

    # ------------------------------------------------------------------ calls

    def slot_map(self) -> pb.SlotMap:
        best: pb.SlotMap | None = None
        for address in [*self.seeds, *self.node_addresses.values()]:
            try:
                found = self.admin.call(address, "GetSlotMap", pb.StatusRequest(), self.timeout)
            except grpc.RpcError:
                continue
            if best is None or found.epoch > best.epoch:
                best = found
        if best is None:
            raise MoveFailed("no node answered")
        self.node_addresses = {node.id: node.address for node in best.nodes}
        return best

    def _call(self, method: str, request: Any, hint: int = 0) -> Any:
        """The call answered by the node that leads what it is about (following its
        not-leader answers), through elections and restarts, for at most STEP_BUDGET_S."""
        deadline = time.monotonic() + STEP_BUDGET_S
        candidates = list(dict.fromkeys([*self.node_addresses.values(), *self.seeds]))
        leader_address = self.node_addresses.get(hint)
        attempt = 0
        last_problem = "no node answered"
        while time.monotonic() < deadline:
            address = leader_address or candidates[attempt % len(candidates)]
            leader_address = None
            attempt += 1
            try:
                reply = self.admin.call(address, method, request, self.timeout + 10)
            except grpc.RpcError as error:
                last_problem = f"{address}: {error.code().name}"
                time.sleep(0.1)
                continue
            if reply.not_leader:
                leader_address = self.node_addresses.get(reply.leader_node)
                if leader_address is None:
                    time.sleep(0.1)
                continue
            return reply
        raise MoveFailed(f"{method} {getattr(request, 'op', '')}: {last_problem}")

    def step(self, op: str, move_id: str, first: int, last: int, **fields: Any) -> pb.SlotMoveReply:
        request = pb.SlotMoveRequest(op=op, move_id=move_id, first=first, last=last, **fields)
        reply = self._call("SlotMove", request)
        if not reply.ok:
            raise MoveFailed(f"{op}: {reply.error}")
        return reply

    def moves(self) -> list[dict[str, Any]]:
        reply = self._call("SlotMove", pb.SlotMoveRequest(op="list"))
        moves: list[dict[str, Any]] = json.loads(reply.moves_json or "[]")
        return moves

    # ------------------------------------------------------------------ the move

    def move(self, first: int, last: int, target: int, chunk_bytes: int = CHUNK_BYTES) -> Progress:
        started = time.monotonic()
        slot_map = self.slot_map()
        shards = [
            ShardPlacement(s.id, tuple((r.first, r.last) for r in s.slots), tuple(s.replicas))
            for s in slot_map.shards
        ]
        existing = [
            m for m in self.moves() if (m["first"], m["last"], m["target"]) == (first, last, target)
        ]
        if existing:
            move = existing[0]
            self.say(f"resuming move {move['id']} ({move['phase']})")
        else:
            source = owner_of(shards, first)
            move = {
                "id": secrets.token_hex(6),
                "first": first,
                "last": last,
                "source": source if source is not None else 0,
                "target": target,
                "phase": "copying",
            }
            self.step(
                "move-begin",
                move["id"],
                first,
                last,
                source=move["source"],
                target=target,
            )
            self.say(
                f"move {move['id']}: slots {first}-{last} from shard {move['source']} "
                f"to shard {target}"
            )
        move_id, source = move["id"], move["source"]
        progress = Progress()
        if move["phase"] != COMMITTED:
            # First copy while the source still serves the range, noting what changes.
            self.step("track", move_id, first, last, shard=source)
            self.step("clear", move_id, first, last, shard=target)
            self._copy(move_id, first, last, source, target, chunk_bytes, progress, "")
            self.step("fence", move_id, first, last, shard=source)
            fenced = progress.fenced_at = time.monotonic()
            self.say(f"fenced slots {first}-{last} on shard {source}")
            # Then, frozen: the keys changed meanwhile (those gone since go from the target).
            self._copy(move_id, first, last, source, target, chunk_bytes, progress, "dirty_only")
            self.step("move-commit", move_id, first, last)
            self.say(
                f"committed: shard {target} holds slots {first}-{last} "
                f"({time.monotonic() - fenced:.2f} s after the fence)"
            )
        self.step("activate", move_id, first, last, shard=target)
        progress.activated_at = time.monotonic()
        self._drop(move_id, first, last, source, chunk_bytes, progress)
        self.step("move-done", move_id, first, last)
        elapsed = time.monotonic() - started
        self.say(
            f"done: {progress.keys} keys, {progress.bytes} bytes moved, "
            f"{progress.dropped} dropped from shard {source}, in {elapsed:.2f} s"
        )
        return progress

    def _chunks(self, shard: int, first: int, last: int, chunk_bytes: int, mode: str) -> Any:
        after = b""
        while True:
            request = pb.SlotExportRequest(
                shard=shard, first=first, last=last, after=after, max_bytes=chunk_bytes
            )
            if mode:
                setattr(request, mode, True)
            reply = self._call("SlotExport", request)
            if not reply.ok:
                raise MoveFailed(f"export from shard {shard}: {reply.error}")
            if reply.count:
                yield reply
            if reply.done:
                return
            # The cursor is the node's (every database's keys, node/slot_entries.py
            # encode_cursor), passed back as it is; one that does not advance would read
            # the same chunk for ever (a node from before databases, its last key empty).
            if not reply.last_key or reply.last_key == after:
                raise MoveFailed(f"export from shard {shard}: the cursor did not advance")
            after = reply.last_key

    def _copy(
        self,
        move_id: str,
        first: int,
        last: int,
        source: int,
        target: int,
        chunk_bytes: int,
        progress: Progress,
        mode: str,
    ) -> None:
        for chunk in self._chunks(source, first, last, chunk_bytes, mode):
            self.step("import", move_id, first, last, shard=target, items=chunk.items)
            progress.keys += chunk.count
            progress.bytes += len(chunk.items)
            self.say(f"copied {progress.keys} keys, {progress.bytes} bytes")

    def _drop(
        self, move_id: str, first: int, last: int, source: int, chunk_bytes: int, progress: Progress
    ) -> None:
        for chunk in self._chunks(source, first, last, chunk_bytes, "keys_only"):
            reply = self.step("drop", move_id, first, last, shard=source, items=chunk.items)
            progress.dropped += reply.keys


def run_move(
    args: argparse.Namespace, admin: AdminClient, addresses: list[str], out: TextIO = sys.stdout
) -> int:
    try:
        first, last = parse_range(args.range)
    except SlotMoveError as error:
        print(f"slotraft ctl move-slots: {error}", file=sys.stderr)
        return 2
    mover = SlotMover(admin, addresses, args.timeout, out)
    try:
        mover.move(first, last, args.target, args.chunk_bytes)
    except MoveFailed as error:
        print(f"slotraft ctl move-slots: {error}", file=sys.stderr)
        return 1
    return 0


def render_moves(moves: list[dict[str, Any]]) -> str:
    if not moves:
        return "slot moves in flight: none"
    lines = ["slot moves in flight:"]
    for move in moves:
        lines.append(
            f"  move {move['id']}: slots {move['first']}-{move['last']} "
            f"shard {move['source']} -> {move['target']} ({move['phase']})"
        )
    return "\n".join(lines)


def moves_in_flight(admin: AdminClient, addresses: list[str], timeout: float) -> str:
    mover = SlotMover(admin, addresses, timeout)
    try:
        return render_moves(mover.moves())
    except MoveFailed as error:
        return f"slot moves in flight: unknown ({error})"

"""The protocol's messages and a shard's cross-shard state to and from bytes
(proto/xshard.proto): what shard log entries, the Kv stream and shard snapshots carry.

Decoding checks what the types promise (a transaction id, known reasons and statuses,
bounded counts) and raises `CodecError` on anything else, so that an apply that decodes a
hostile entry fails that entry alone (node/shard_state.py's rule for malformed entries).
"""

from __future__ import annotations

from collections.abc import Sized

from google.protobuf.message import DecodeError

from node.xshard.locks import LockTable
from node.xshard.scratch import Program
from node.xshard.state import PreparedTxn, Record, ShardTxnState, Status
from proto import xshard_pb2 as pb
from proto.xshard_messages import (
    Abort,
    Commit,
    Decide,
    Decision,
    Finished,
    Forget,
    Mode,
    Prepare,
    Prepared,
    Refused,
    RefusedReason,
    Release,
    Reply,
    Request,
    Resolve,
    TxnId,
    Value,
)

MAX_ITEMS = 100_000  # keys, values or commands in one message: far above any limit


class CodecError(ValueError):
    pass


# ------------------------------------------------------------------ pieces


def _txn_to(txn: TxnId, out: pb.TxnId) -> None:
    out.client, out.attempt = txn


def _txn(message: pb.TxnId, present: bool) -> TxnId:
    if not present:
        raise CodecError("no transaction id")
    return (message.client, message.attempt)


def _value_to(value: Value, out: pb.Value) -> None:
    if value is not None:
        out.present = True
        out.data = value


def _value(message: pb.Value) -> Value:
    return message.data if message.present else None


def _bounded(items: Sized) -> None:
    if len(items) > MAX_ITEMS:
        raise CodecError("too many items")


def _mode(write: bool) -> Mode:
    return Mode.WRITE if write else Mode.READ


def _program_to(program: object, out: pb.Program) -> None:
    if not isinstance(program, Program):
        raise CodecError("a node's program is a scratch.Program")
    for command in program.commands:
        out.commands.add().args.extend(command)
    out.single = program.single
    for key, digest in program.watches:
        out.watches.add(key=key, digest=digest)
    out.seed = program.seed
    out.resp3 = program.resp3


def _program(message: pb.Program) -> Program:
    _bounded(message.commands)
    _bounded(message.watches)
    commands = tuple(tuple(command.args) for command in message.commands)
    watches = tuple((watch.key, watch.digest) for watch in message.watches)
    return Program(commands, message.single, watches, message.seed, message.resp3)


def _decision_to(decision: Decision, out: pb.Decision) -> None:
    _txn_to(decision.txn, out.txn)
    out.committed = decision.committed
    for shard, key, value in decision.writes:
        write = out.writes.add(shard=shard, key=key)
        _value_to(value, write.value)
    for shard, number in decision.numbers:
        out.numbers.add(shard=shard, number=number)
    reply = decision.reply
    if isinstance(reply, str):
        out.reply = reply.encode()
    elif isinstance(reply, bytes):
        out.reply = reply
    else:
        raise CodecError("a node's reply is encoded RESP or an error's text")


def _decision(message: pb.Decision) -> Decision:
    _bounded(message.writes)
    writes = tuple((w.shard, w.key, _value(w.value)) for w in message.writes)
    reply: object = message.reply if message.committed else message.reply.decode(errors="replace")
    _bounded(message.numbers)
    numbers = tuple((item.shard, item.number) for item in message.numbers)
    txn = _txn(message.txn, message.HasField("txn"))
    return Decision(txn, message.committed, writes, reply, numbers)


# ------------------------------------------------------------------ requests


def encode_request(request: Request) -> bytes:
    out = pb.Request()
    if isinstance(request, Prepare):
        _txn_to(request.txn, out.prepare.txn)
        out.prepare.coordinator = request.coordinator
        out.prepare.participants.extend(request.participants)
        for key, mode in request.keys:
            out.prepare.keys.add(key=key, write=mode is Mode.WRITE)
        out.prepare.read_only = request.read_only
    elif isinstance(request, Decide):
        _txn_to(request.txn, out.decide.txn)
        for shard, key, mode, value in request.inputs:
            item = out.decide.inputs.add(shard=shard, key=key, write=mode is Mode.WRITE)
            _value_to(value, item.value)
        _program_to(request.program, out.decide.program)
        for shard, number in request.numbers:
            out.decide.numbers.add(shard=shard, number=number)
    elif isinstance(request, Resolve):
        _txn_to(request.txn, out.resolve.txn)
        if request.asker is not None:
            out.resolve.has_asker = True
            out.resolve.asker = request.asker
    elif isinstance(request, Commit):
        _txn_to(request.txn, out.commit.txn)
        for key, value in request.writes:
            _value_to(value, out.commit.writes.add(key=key).value)
        out.commit.number = request.number
    elif isinstance(request, Abort):
        _txn_to(request.txn, out.abort.txn)
    elif isinstance(request, Release):
        _txn_to(request.txn, out.release.txn)
    else:
        _txn_to(request.txn, out.forget.txn)
    return out.SerializeToString()


def decode_request(data: bytes) -> Request:
    message = pb.Request()
    try:
        message.ParseFromString(data)
    except DecodeError as error:
        raise CodecError(f"malformed request: {error}") from None
    kind = message.WhichOneof("kind")
    if kind == "prepare":
        p = message.prepare
        _bounded(p.keys)
        _bounded(p.participants)
        keys = tuple((item.key, _mode(item.write)) for item in p.keys)
        txn = _txn(p.txn, p.HasField("txn"))
        return Prepare(txn, p.coordinator, tuple(p.participants), keys, p.read_only)
    if kind == "decide":
        d = message.decide
        _bounded(d.inputs)
        inputs = tuple((i.shard, i.key, _mode(i.write), _value(i.value)) for i in d.inputs)
        _bounded(d.numbers)
        numbers = tuple((item.shard, item.number) for item in d.numbers)
        return Decide(_txn(d.txn, d.HasField("txn")), inputs, _program(d.program), numbers)
    if kind == "resolve":
        r = message.resolve
        asker = r.asker if r.has_asker else None
        return Resolve(_txn(r.txn, r.HasField("txn")), asker)
    if kind == "commit":
        c = message.commit
        _bounded(c.writes)
        writes = tuple((w.key, _value(w.value)) for w in c.writes)
        return Commit(_txn(c.txn, c.HasField("txn")), writes, c.number)
    if kind in ("abort", "release", "forget"):
        only = getattr(message, kind)
        txn = _txn(only.txn, only.HasField("txn"))
        if kind == "abort":
            return Abort(txn)
        return Release(txn) if kind == "release" else Forget(txn)
    raise CodecError("a request of no known kind")


# ------------------------------------------------------------------ replies


def encode_reply(reply: Reply) -> bytes:
    out = pb.Reply()
    if isinstance(reply, Prepared):
        _txn_to(reply.txn, out.prepared.txn)
        out.prepared.shard = reply.shard
        out.prepared.number = reply.number
        for key, value in reply.values:
            _value_to(value, out.prepared.values.add(key=key).value)
    elif isinstance(reply, Refused):
        _txn_to(reply.txn, out.refused.txn)
        out.refused.shard = reply.shard
        out.refused.reason = reply.reason.value
    elif isinstance(reply, Decision):
        _decision_to(reply, out.decision)
    else:
        _txn_to(reply.txn, out.finished.txn)
        out.finished.shard = reply.shard
        out.finished.held = reply.held
    return out.SerializeToString()


def decode_reply(data: bytes) -> Reply:
    message = pb.Reply()
    try:
        message.ParseFromString(data)
    except DecodeError as error:
        raise CodecError(f"malformed reply: {error}") from None
    kind = message.WhichOneof("kind")
    if kind == "prepared":
        p = message.prepared
        _bounded(p.values)
        values = tuple((item.key, _value(item.value)) for item in p.values)
        return Prepared(_txn(p.txn, p.HasField("txn")), p.shard, values, p.number)
    if kind == "refused":
        r = message.refused
        try:
            reason = RefusedReason(r.reason)
        except ValueError:
            raise CodecError(f"unknown refusal {r.reason!r}") from None
        return Refused(_txn(r.txn, r.HasField("txn")), r.shard, reason)
    if kind == "decision":
        return _decision(message.decision)
    if kind == "finished":
        f = message.finished
        return Finished(_txn(f.txn, f.HasField("txn")), f.shard, f.held)
    raise CodecError("a reply of no known kind")


# ------------------------------------------------------------------ snapshots


def snapshot(state: ShardTxnState) -> bytes:
    """The replicated part of `state` (prepared transactions and records; the locks follow
    from the prepared transactions), in a deterministic order."""
    out = pb.ShardTxnSnapshot(numbered=state.numbered)
    for txn, entry in sorted(state.prepared.items()):
        item = out.prepared.add(
            coordinator=entry.coordinator, since=entry.since, number=entry.number
        )
        _txn_to(txn, item.txn)
        item.read_only = entry.read_only
        for key, mode in entry.keys.items():
            item.keys.add(key=key, write=mode is Mode.WRITE)
    for txn, record in sorted(state.records.items()):
        saved = out.records.add(
            status=record.status.value, since=record.since, number=record.number
        )
        _txn_to(txn, saved.txn)
        saved.participants.extend(record.participants)
        if record.decision is not None:
            _decision_to(record.decision, saved.decision)
    return out.SerializeToString()


def restore(state: ShardTxnState, data: bytes) -> None:
    """Replace `state`'s prepared transactions, locks and records with a snapshot's; on a
    `CodecError` the state is left as it was."""
    message = pb.ShardTxnSnapshot()
    try:
        message.ParseFromString(data)
    except DecodeError as error:
        raise CodecError(f"malformed snapshot: {error}") from None
    prepared: dict[TxnId, PreparedTxn] = {}
    for item in message.prepared:
        _bounded(item.keys)
        keys = {key.key: _mode(key.write) for key in item.keys}
        txn = _txn(item.txn, item.HasField("txn"))
        prepared[txn] = PreparedTxn(item.coordinator, keys, item.since, item.read_only, item.number)
    records: dict[TxnId, Record] = {}
    for saved in message.records:
        try:
            status = Status(saved.status)
        except ValueError:
            raise CodecError(f"unknown status {saved.status!r}") from None
        decision = _decision(saved.decision) if saved.HasField("decision") else None
        if (decision is None) != (status is Status.PENDING):
            raise CodecError("a record's decision does not match its status")
        txn = _txn(saved.txn, saved.HasField("txn"))
        participants = tuple(saved.participants)
        records[txn] = Record(status, participants, saved.since, decision, saved.number)
    locks = LockTable()
    for txn, entry in prepared.items():
        for key, mode in entry.keys.items():
            if not state.unsafe:
                if not locks.can_take(txn, key, mode):
                    raise CodecError("the snapshot's locks conflict")
                locks.take(txn, key, mode)
    state.prepared, state.records, state.locks = prepared, records, locks
    state.numbered = message.numbered

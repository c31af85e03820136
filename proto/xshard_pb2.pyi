from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TxnId(_message.Message):
    __slots__ = ("client", "attempt")
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    client: int
    attempt: int
    def __init__(self, client: _Optional[int] = ..., attempt: _Optional[int] = ...) -> None: ...

class KeyMode(_message.Message):
    __slots__ = ("key", "write")
    KEY_FIELD_NUMBER: _ClassVar[int]
    WRITE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    write: bool
    def __init__(self, key: _Optional[bytes] = ..., write: _Optional[bool] = ...) -> None: ...

class Value(_message.Message):
    __slots__ = ("present", "data")
    PRESENT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    present: bool
    data: bytes
    def __init__(self, present: _Optional[bool] = ..., data: _Optional[bytes] = ...) -> None: ...

class KeyValue(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    value: Value
    def __init__(self, key: _Optional[bytes] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...

class Input(_message.Message):
    __slots__ = ("shard", "key", "write", "value")
    SHARD_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    WRITE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    shard: int
    key: bytes
    write: bool
    value: Value
    def __init__(self, shard: _Optional[int] = ..., key: _Optional[bytes] = ..., write: _Optional[bool] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...

class ShardWrite(_message.Message):
    __slots__ = ("shard", "key", "value")
    SHARD_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    shard: int
    key: bytes
    value: Value
    def __init__(self, shard: _Optional[int] = ..., key: _Optional[bytes] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...

class ShardNumber(_message.Message):
    __slots__ = ("shard", "number")
    SHARD_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    shard: int
    number: int
    def __init__(self, shard: _Optional[int] = ..., number: _Optional[int] = ...) -> None: ...

class Command(_message.Message):
    __slots__ = ("args",)
    ARGS_FIELD_NUMBER: _ClassVar[int]
    args: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, args: _Optional[_Iterable[bytes]] = ...) -> None: ...

class WatchDigest(_message.Message):
    __slots__ = ("key", "digest")
    KEY_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    digest: bytes
    def __init__(self, key: _Optional[bytes] = ..., digest: _Optional[bytes] = ...) -> None: ...

class Program(_message.Message):
    __slots__ = ("commands", "single", "watches", "seed", "resp3")
    COMMANDS_FIELD_NUMBER: _ClassVar[int]
    SINGLE_FIELD_NUMBER: _ClassVar[int]
    WATCHES_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    RESP3_FIELD_NUMBER: _ClassVar[int]
    commands: _containers.RepeatedCompositeFieldContainer[Command]
    single: bool
    watches: _containers.RepeatedCompositeFieldContainer[WatchDigest]
    seed: int
    resp3: bool
    def __init__(self, commands: _Optional[_Iterable[_Union[Command, _Mapping]]] = ..., single: _Optional[bool] = ..., watches: _Optional[_Iterable[_Union[WatchDigest, _Mapping]]] = ..., seed: _Optional[int] = ..., resp3: _Optional[bool] = ...) -> None: ...

class Prepare(_message.Message):
    __slots__ = ("txn", "coordinator", "participants", "keys", "read_only")
    TXN_FIELD_NUMBER: _ClassVar[int]
    COORDINATOR_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    txn: TxnId
    coordinator: int
    participants: _containers.RepeatedScalarFieldContainer[int]
    keys: _containers.RepeatedCompositeFieldContainer[KeyMode]
    read_only: bool
    def __init__(self, txn: _Optional[_Union[TxnId, _Mapping]] = ..., coordinator: _Optional[int] = ..., participants: _Optional[_Iterable[int]] = ..., keys: _Optional[_Iterable[_Union[KeyMode, _Mapping]]] = ..., read_only: _Optional[bool] = ...) -> None: ...

class Decide(_message.Message):
    __slots__ = ("txn", "inputs", "program", "numbers")
    TXN_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    PROGRAM_FIELD_NUMBER: _ClassVar[int]
    NUMBERS_FIELD_NUMBER: _ClassVar[int]
    txn: TxnId
    inputs: _containers.RepeatedCompositeFieldContainer[Input]
    program: Program
    numbers: _containers.RepeatedCompositeFieldContainer[ShardNumber]
    def __init__(self, txn: _Optional[_Union[TxnId, _Mapping]] = ..., inputs: _Optional[_Iterable[_Union[Input, _Mapping]]] = ..., program: _Optional[_Union[Program, _Mapping]] = ..., numbers: _Optional[_Iterable[_Union[ShardNumber, _Mapping]]] = ...) -> None: ...

class Resolve(_message.Message):
    __slots__ = ("txn", "has_asker", "asker")
    TXN_FIELD_NUMBER: _ClassVar[int]
    HAS_ASKER_FIELD_NUMBER: _ClassVar[int]
    ASKER_FIELD_NUMBER: _ClassVar[int]
    txn: TxnId
    has_asker: bool
    asker: int
    def __init__(self, txn: _Optional[_Union[TxnId, _Mapping]] = ..., has_asker: _Optional[bool] = ..., asker: _Optional[int] = ...) -> None: ...

class Commit(_message.Message):
    __slots__ = ("txn", "writes", "number")
    TXN_FIELD_NUMBER: _ClassVar[int]
    WRITES_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    txn: TxnId
    writes: _containers.RepeatedCompositeFieldContainer[KeyValue]
    number: int
    def __init__(self, txn: _Optional[_Union[TxnId, _Mapping]] = ..., writes: _Optional[_Iterable[_Union[KeyValue, _Mapping]]] = ..., number: _Optional[int] = ...) -> None: ...

class TxnOnly(_message.Message):
    __slots__ = ("txn",)
    TXN_FIELD_NUMBER: _ClassVar[int]
    txn: TxnId
    def __init__(self, txn: _Optional[_Union[TxnId, _Mapping]] = ...) -> None: ...

class Request(_message.Message):
    __slots__ = ("prepare", "decide", "resolve", "commit", "abort", "release", "forget")
    PREPARE_FIELD_NUMBER: _ClassVar[int]
    DECIDE_FIELD_NUMBER: _ClassVar[int]
    RESOLVE_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    ABORT_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    FORGET_FIELD_NUMBER: _ClassVar[int]
    prepare: Prepare
    decide: Decide
    resolve: Resolve
    commit: Commit
    abort: TxnOnly
    release: TxnOnly
    forget: TxnOnly
    def __init__(self, prepare: _Optional[_Union[Prepare, _Mapping]] = ..., decide: _Optional[_Union[Decide, _Mapping]] = ..., resolve: _Optional[_Union[Resolve, _Mapping]] = ..., commit: _Optional[_Union[Commit, _Mapping]] = ..., abort: _Optional[_Union[TxnOnly, _Mapping]] = ..., release: _Optional[_Union[TxnOnly, _Mapping]] = ..., forget: _Optional[_Union[TxnOnly, _Mapping]] = ...) -> None: ...

class Prepared(_message.Message):
    __slots__ = ("txn", "shard", "values", "number")
    TXN_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    txn: TxnId
    shard: int
    values: _containers.RepeatedCompositeFieldContainer[KeyValue]
    number: int
    def __init__(self, txn: _Optional[_Union[TxnId, _Mapping]] = ..., shard: _Optional[int] = ..., values: _Optional[_Iterable[_Union[KeyValue, _Mapping]]] = ..., number: _Optional[int] = ...) -> None: ...

class Refused(_message.Message):
    __slots__ = ("txn", "shard", "reason")
    TXN_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    txn: TxnId
    shard: int
    reason: str
    def __init__(self, txn: _Optional[_Union[TxnId, _Mapping]] = ..., shard: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("txn", "committed", "writes", "reply", "numbers")
    TXN_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_FIELD_NUMBER: _ClassVar[int]
    WRITES_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    NUMBERS_FIELD_NUMBER: _ClassVar[int]
    txn: TxnId
    committed: bool
    writes: _containers.RepeatedCompositeFieldContainer[ShardWrite]
    reply: bytes
    numbers: _containers.RepeatedCompositeFieldContainer[ShardNumber]
    def __init__(self, txn: _Optional[_Union[TxnId, _Mapping]] = ..., committed: _Optional[bool] = ..., writes: _Optional[_Iterable[_Union[ShardWrite, _Mapping]]] = ..., reply: _Optional[bytes] = ..., numbers: _Optional[_Iterable[_Union[ShardNumber, _Mapping]]] = ...) -> None: ...

class Finished(_message.Message):
    __slots__ = ("txn", "shard", "held")
    TXN_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    txn: TxnId
    shard: int
    held: bool
    def __init__(self, txn: _Optional[_Union[TxnId, _Mapping]] = ..., shard: _Optional[int] = ..., held: _Optional[bool] = ...) -> None: ...

class Reply(_message.Message):
    __slots__ = ("prepared", "refused", "decision", "finished")
    PREPARED_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    prepared: Prepared
    refused: Refused
    decision: Decision
    finished: Finished
    def __init__(self, prepared: _Optional[_Union[Prepared, _Mapping]] = ..., refused: _Optional[_Union[Refused, _Mapping]] = ..., decision: _Optional[_Union[Decision, _Mapping]] = ..., finished: _Optional[_Union[Finished, _Mapping]] = ...) -> None: ...

class PreparedTxn(_message.Message):
    __slots__ = ("txn", "coordinator", "keys", "since", "read_only", "number")
    TXN_FIELD_NUMBER: _ClassVar[int]
    COORDINATOR_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    txn: TxnId
    coordinator: int
    keys: _containers.RepeatedCompositeFieldContainer[KeyMode]
    since: int
    read_only: bool
    number: int
    def __init__(self, txn: _Optional[_Union[TxnId, _Mapping]] = ..., coordinator: _Optional[int] = ..., keys: _Optional[_Iterable[_Union[KeyMode, _Mapping]]] = ..., since: _Optional[int] = ..., read_only: _Optional[bool] = ..., number: _Optional[int] = ...) -> None: ...

class Record(_message.Message):
    __slots__ = ("txn", "status", "participants", "since", "decision", "number")
    TXN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    txn: TxnId
    status: str
    participants: _containers.RepeatedScalarFieldContainer[int]
    since: int
    decision: Decision
    number: int
    def __init__(self, txn: _Optional[_Union[TxnId, _Mapping]] = ..., status: _Optional[str] = ..., participants: _Optional[_Iterable[int]] = ..., since: _Optional[int] = ..., decision: _Optional[_Union[Decision, _Mapping]] = ..., number: _Optional[int] = ...) -> None: ...

class ShardTxnSnapshot(_message.Message):
    __slots__ = ("prepared", "records", "numbered")
    PREPARED_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    NUMBERED_FIELD_NUMBER: _ClassVar[int]
    prepared: _containers.RepeatedCompositeFieldContainer[PreparedTxn]
    records: _containers.RepeatedCompositeFieldContainer[Record]
    numbered: int
    def __init__(self, prepared: _Optional[_Iterable[_Union[PreparedTxn, _Mapping]]] = ..., records: _Optional[_Iterable[_Union[Record, _Mapping]]] = ..., numbered: _Optional[int] = ...) -> None: ...

from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RequestKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMMANDS: _ClassVar[RequestKind]
    TRANSACTION: _ClassVar[RequestKind]
    DIGESTS: _ClassVar[RequestKind]

class Consistency(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LINEARIZABLE: _ClassVar[Consistency]
    FOLLOWER: _ClassVar[Consistency]

class ReplyStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OK: _ClassVar[ReplyStatus]
    NOT_LEADER: _ClassVar[ReplyStatus]
    UNAVAILABLE: _ClassVar[ReplyStatus]
    UNKNOWN_SHARD: _ClassVar[ReplyStatus]
    REJECTED: _ClassVar[ReplyStatus]

class IdentityState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IDENTITY_UNKNOWN: _ClassVar[IdentityState]
    IDENTITY_NEW: _ClassVar[IdentityState]
    IDENTITY_VERIFIED: _ClassVar[IdentityState]
    IDENTITY_REJOINING: _ClassVar[IdentityState]
COMMANDS: RequestKind
TRANSACTION: RequestKind
DIGESTS: RequestKind
LINEARIZABLE: Consistency
FOLLOWER: Consistency
OK: ReplyStatus
NOT_LEADER: ReplyStatus
UNAVAILABLE: ReplyStatus
UNKNOWN_SHARD: ReplyStatus
REJECTED: ReplyStatus
IDENTITY_UNKNOWN: IdentityState
IDENTITY_NEW: IdentityState
IDENTITY_VERIFIED: IdentityState
IDENTITY_REJOINING: IdentityState

class Watch(_message.Message):
    __slots__ = ("key", "digest")
    KEY_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    digest: bytes
    def __init__(self, key: _Optional[bytes] = ..., digest: _Optional[bytes] = ...) -> None: ...

class KvRequest(_message.Message):
    __slots__ = ("id", "shard", "client_id", "sequence", "acked", "kind", "consistency", "resp3", "read_only", "watches", "args", "arg_counts", "writer", "caller", "db")
    ID_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ACKED_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    RESP3_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    WATCHES_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    ARG_COUNTS_FIELD_NUMBER: _ClassVar[int]
    WRITER_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    DB_FIELD_NUMBER: _ClassVar[int]
    id: int
    shard: int
    client_id: int
    sequence: int
    acked: int
    kind: RequestKind
    consistency: Consistency
    resp3: bool
    read_only: bool
    watches: _containers.RepeatedCompositeFieldContainer[Watch]
    args: _containers.RepeatedScalarFieldContainer[bytes]
    arg_counts: _containers.RepeatedScalarFieldContainer[int]
    writer: int
    caller: bytes
    db: int
    def __init__(self, id: _Optional[int] = ..., shard: _Optional[int] = ..., client_id: _Optional[int] = ..., sequence: _Optional[int] = ..., acked: _Optional[int] = ..., kind: _Optional[_Union[RequestKind, str]] = ..., consistency: _Optional[_Union[Consistency, str]] = ..., resp3: _Optional[bool] = ..., read_only: _Optional[bool] = ..., watches: _Optional[_Iterable[_Union[Watch, _Mapping]]] = ..., args: _Optional[_Iterable[bytes]] = ..., arg_counts: _Optional[_Iterable[int]] = ..., writer: _Optional[int] = ..., caller: _Optional[bytes] = ..., db: _Optional[int] = ...) -> None: ...

class KvReply(_message.Message):
    __slots__ = ("id", "status", "leader_node", "replies", "error", "log_index", "script_denials")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LEADER_NODE_FIELD_NUMBER: _ClassVar[int]
    REPLIES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    SCRIPT_DENIALS_FIELD_NUMBER: _ClassVar[int]
    id: int
    status: ReplyStatus
    leader_node: int
    replies: _containers.RepeatedScalarFieldContainer[bytes]
    error: str
    log_index: int
    script_denials: _containers.RepeatedCompositeFieldContainer[ScriptDenial]
    def __init__(self, id: _Optional[int] = ..., status: _Optional[_Union[ReplyStatus, str]] = ..., leader_node: _Optional[int] = ..., replies: _Optional[_Iterable[bytes]] = ..., error: _Optional[str] = ..., log_index: _Optional[int] = ..., script_denials: _Optional[_Iterable[_Union[ScriptDenial, _Mapping]]] = ...) -> None: ...

class ScriptDenial(_message.Message):
    __slots__ = ("command", "reason", "object")
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    command: int
    reason: int
    object: bytes
    def __init__(self, command: _Optional[int] = ..., reason: _Optional[int] = ..., object: _Optional[bytes] = ...) -> None: ...

class KvBatch(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[KvRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[KvRequest, _Mapping]]] = ...) -> None: ...

class KvReplyBatch(_message.Message):
    __slots__ = ("replies",)
    REPLIES_FIELD_NUMBER: _ClassVar[int]
    replies: _containers.RepeatedCompositeFieldContainer[KvReply]
    def __init__(self, replies: _Optional[_Iterable[_Union[KvReply, _Mapping]]] = ...) -> None: ...

class PublishRequest(_message.Message):
    __slots__ = ("channel", "message", "origin", "seq", "sharded")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    SHARDED_FIELD_NUMBER: _ClassVar[int]
    channel: bytes
    message: bytes
    origin: int
    seq: int
    sharded: bool
    def __init__(self, channel: _Optional[bytes] = ..., message: _Optional[bytes] = ..., origin: _Optional[int] = ..., seq: _Optional[int] = ..., sharded: _Optional[bool] = ...) -> None: ...

class PublishReply(_message.Message):
    __slots__ = ("receivers", "routers", "router_receivers", "holders", "hub_age_ms")
    RECEIVERS_FIELD_NUMBER: _ClassVar[int]
    ROUTERS_FIELD_NUMBER: _ClassVar[int]
    ROUTER_RECEIVERS_FIELD_NUMBER: _ClassVar[int]
    HOLDERS_FIELD_NUMBER: _ClassVar[int]
    HUB_AGE_MS_FIELD_NUMBER: _ClassVar[int]
    receivers: int
    routers: _containers.RepeatedScalarFieldContainer[int]
    router_receivers: _containers.RepeatedScalarFieldContainer[int]
    holders: _containers.RepeatedScalarFieldContainer[int]
    hub_age_ms: int
    def __init__(self, receivers: _Optional[int] = ..., routers: _Optional[_Iterable[int]] = ..., router_receivers: _Optional[_Iterable[int]] = ..., holders: _Optional[_Iterable[int]] = ..., hub_age_ms: _Optional[int] = ...) -> None: ...

class Subscription(_message.Message):
    __slots__ = ("channels", "patterns", "channel_counts", "pattern_counts", "router", "version", "query", "shard_channels", "shard_channel_counts")
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    PATTERNS_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_COUNTS_FIELD_NUMBER: _ClassVar[int]
    PATTERN_COUNTS_FIELD_NUMBER: _ClassVar[int]
    ROUTER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    SHARD_CHANNELS_FIELD_NUMBER: _ClassVar[int]
    SHARD_CHANNEL_COUNTS_FIELD_NUMBER: _ClassVar[int]
    channels: _containers.RepeatedScalarFieldContainer[bytes]
    patterns: _containers.RepeatedScalarFieldContainer[bytes]
    channel_counts: _containers.RepeatedScalarFieldContainer[int]
    pattern_counts: _containers.RepeatedScalarFieldContainer[int]
    router: int
    version: int
    query: PubSubQuery
    shard_channels: _containers.RepeatedScalarFieldContainer[bytes]
    shard_channel_counts: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, channels: _Optional[_Iterable[bytes]] = ..., patterns: _Optional[_Iterable[bytes]] = ..., channel_counts: _Optional[_Iterable[int]] = ..., pattern_counts: _Optional[_Iterable[int]] = ..., router: _Optional[int] = ..., version: _Optional[int] = ..., query: _Optional[_Union[PubSubQuery, _Mapping]] = ..., shard_channels: _Optional[_Iterable[bytes]] = ..., shard_channel_counts: _Optional[_Iterable[int]] = ...) -> None: ...

class PubSubQuery(_message.Message):
    __slots__ = ("id", "kind", "channels", "pattern")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CHANNELS: _ClassVar[PubSubQuery.Kind]
        NUMSUB: _ClassVar[PubSubQuery.Kind]
        NUMPAT: _ClassVar[PubSubQuery.Kind]
        SHARDCHANNELS: _ClassVar[PubSubQuery.Kind]
        SHARDNUMSUB: _ClassVar[PubSubQuery.Kind]
    CHANNELS: PubSubQuery.Kind
    NUMSUB: PubSubQuery.Kind
    NUMPAT: PubSubQuery.Kind
    SHARDCHANNELS: PubSubQuery.Kind
    SHARDNUMSUB: PubSubQuery.Kind
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    id: int
    kind: PubSubQuery.Kind
    channels: _containers.RepeatedScalarFieldContainer[bytes]
    pattern: bytes
    def __init__(self, id: _Optional[int] = ..., kind: _Optional[_Union[PubSubQuery.Kind, str]] = ..., channels: _Optional[_Iterable[bytes]] = ..., pattern: _Optional[bytes] = ...) -> None: ...

class PubSubAnswer(_message.Message):
    __slots__ = ("id", "channels", "counts")
    ID_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    id: int
    channels: _containers.RepeatedScalarFieldContainer[bytes]
    counts: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, id: _Optional[int] = ..., channels: _Optional[_Iterable[bytes]] = ..., counts: _Optional[_Iterable[int]] = ...) -> None: ...

class Delivery(_message.Message):
    __slots__ = ("channel", "message", "acked", "answer", "origin", "seq", "sharded", "gap")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ACKED_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    SHARDED_FIELD_NUMBER: _ClassVar[int]
    GAP_FIELD_NUMBER: _ClassVar[int]
    channel: bytes
    message: bytes
    acked: int
    answer: PubSubAnswer
    origin: int
    seq: int
    sharded: bool
    gap: Gap
    def __init__(self, channel: _Optional[bytes] = ..., message: _Optional[bytes] = ..., acked: _Optional[int] = ..., answer: _Optional[_Union[PubSubAnswer, _Mapping]] = ..., origin: _Optional[int] = ..., seq: _Optional[int] = ..., sharded: _Optional[bool] = ..., gap: _Optional[_Union[Gap, _Mapping]] = ...) -> None: ...

class Gap(_message.Message):
    __slots__ = ("origins", "seqs", "unidentified", "overflow")
    ORIGINS_FIELD_NUMBER: _ClassVar[int]
    SEQS_FIELD_NUMBER: _ClassVar[int]
    UNIDENTIFIED_FIELD_NUMBER: _ClassVar[int]
    OVERFLOW_FIELD_NUMBER: _ClassVar[int]
    origins: _containers.RepeatedScalarFieldContainer[int]
    seqs: _containers.RepeatedScalarFieldContainer[int]
    unidentified: int
    overflow: int
    def __init__(self, origins: _Optional[_Iterable[int]] = ..., seqs: _Optional[_Iterable[int]] = ..., unidentified: _Optional[int] = ..., overflow: _Optional[int] = ...) -> None: ...

class RaftEntry(_message.Message):
    __slots__ = ("index", "term", "type", "data")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    index: int
    term: int
    type: int
    data: bytes
    def __init__(self, index: _Optional[int] = ..., term: _Optional[int] = ..., type: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class RaftMessage(_message.Message):
    __slots__ = ("group", "type", "from_node", "to_node", "term", "log_term", "index", "entries", "commit", "reject", "reject_hint", "hint_term", "snapshot_index", "snapshot_term", "snapshot_voters", "snapshot_learners", "chunk_offset", "chunk_data", "chunk_done", "flag", "stamp", "force")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    FROM_NODE_FIELD_NUMBER: _ClassVar[int]
    TO_NODE_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    LOG_TERM_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    REJECT_FIELD_NUMBER: _ClassVar[int]
    REJECT_HINT_FIELD_NUMBER: _ClassVar[int]
    HINT_TERM_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_INDEX_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_TERM_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VOTERS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_LEARNERS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_OFFSET_FIELD_NUMBER: _ClassVar[int]
    CHUNK_DATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_DONE_FIELD_NUMBER: _ClassVar[int]
    FLAG_FIELD_NUMBER: _ClassVar[int]
    STAMP_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    group: int
    type: int
    from_node: int
    to_node: int
    term: int
    log_term: int
    index: int
    entries: _containers.RepeatedCompositeFieldContainer[RaftEntry]
    commit: int
    reject: bool
    reject_hint: int
    hint_term: int
    snapshot_index: int
    snapshot_term: int
    snapshot_voters: _containers.RepeatedScalarFieldContainer[int]
    snapshot_learners: _containers.RepeatedScalarFieldContainer[int]
    chunk_offset: int
    chunk_data: bytes
    chunk_done: bool
    flag: bool
    stamp: int
    force: bool
    def __init__(self, group: _Optional[int] = ..., type: _Optional[int] = ..., from_node: _Optional[int] = ..., to_node: _Optional[int] = ..., term: _Optional[int] = ..., log_term: _Optional[int] = ..., index: _Optional[int] = ..., entries: _Optional[_Iterable[_Union[RaftEntry, _Mapping]]] = ..., commit: _Optional[int] = ..., reject: _Optional[bool] = ..., reject_hint: _Optional[int] = ..., hint_term: _Optional[int] = ..., snapshot_index: _Optional[int] = ..., snapshot_term: _Optional[int] = ..., snapshot_voters: _Optional[_Iterable[int]] = ..., snapshot_learners: _Optional[_Iterable[int]] = ..., chunk_offset: _Optional[int] = ..., chunk_data: _Optional[bytes] = ..., chunk_done: _Optional[bool] = ..., flag: _Optional[bool] = ..., stamp: _Optional[int] = ..., force: _Optional[bool] = ...) -> None: ...

class RaftBatch(_message.Message):
    __slots__ = ("from_node", "messages", "from_incarnation", "from_state", "to_incarnation")
    FROM_NODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    FROM_INCARNATION_FIELD_NUMBER: _ClassVar[int]
    FROM_STATE_FIELD_NUMBER: _ClassVar[int]
    TO_INCARNATION_FIELD_NUMBER: _ClassVar[int]
    from_node: int
    messages: _containers.RepeatedCompositeFieldContainer[RaftMessage]
    from_incarnation: int
    from_state: IdentityState
    to_incarnation: int
    def __init__(self, from_node: _Optional[int] = ..., messages: _Optional[_Iterable[_Union[RaftMessage, _Mapping]]] = ..., from_incarnation: _Optional[int] = ..., from_state: _Optional[_Union[IdentityState, str]] = ..., to_incarnation: _Optional[int] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("version", "cluster_id", "node_id", "role", "shards", "replicas", "slots", "expect_node", "refusal", "address")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    EXPECT_NODE_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    version: int
    cluster_id: str
    node_id: int
    role: str
    shards: int
    replicas: int
    slots: int
    expect_node: int
    refusal: str
    address: str
    def __init__(self, version: _Optional[int] = ..., cluster_id: _Optional[str] = ..., node_id: _Optional[int] = ..., role: _Optional[str] = ..., shards: _Optional[int] = ..., replicas: _Optional[int] = ..., slots: _Optional[int] = ..., expect_node: _Optional[int] = ..., refusal: _Optional[str] = ..., address: _Optional[str] = ...) -> None: ...

class SlotRange(_message.Message):
    __slots__ = ("first", "last")
    FIRST_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    first: int
    last: int
    def __init__(self, first: _Optional[int] = ..., last: _Optional[int] = ...) -> None: ...

class NodeInfo(_message.Message):
    __slots__ = ("id", "address", "reachable")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    REACHABLE_FIELD_NUMBER: _ClassVar[int]
    id: int
    address: str
    reachable: bool
    def __init__(self, id: _Optional[int] = ..., address: _Optional[str] = ..., reachable: _Optional[bool] = ...) -> None: ...

class ReplicaInfo(_message.Message):
    __slots__ = ("node", "role", "match")
    NODE_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    node: int
    role: str
    match: int
    def __init__(self, node: _Optional[int] = ..., role: _Optional[str] = ..., match: _Optional[int] = ...) -> None: ...

class ShardInfo(_message.Message):
    __slots__ = ("id", "group", "slots", "replicas", "leader", "term", "commit", "applied", "last_index", "replica_status", "keys", "used_memory", "failed_index", "failure")
    ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    LAST_INDEX_FIELD_NUMBER: _ClassVar[int]
    REPLICA_STATUS_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    USED_MEMORY_FIELD_NUMBER: _ClassVar[int]
    FAILED_INDEX_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    id: int
    group: int
    slots: _containers.RepeatedCompositeFieldContainer[SlotRange]
    replicas: _containers.RepeatedScalarFieldContainer[int]
    leader: int
    term: int
    commit: int
    applied: int
    last_index: int
    replica_status: _containers.RepeatedCompositeFieldContainer[ReplicaInfo]
    keys: int
    used_memory: int
    failed_index: int
    failure: str
    def __init__(self, id: _Optional[int] = ..., group: _Optional[int] = ..., slots: _Optional[_Iterable[_Union[SlotRange, _Mapping]]] = ..., replicas: _Optional[_Iterable[int]] = ..., leader: _Optional[int] = ..., term: _Optional[int] = ..., commit: _Optional[int] = ..., applied: _Optional[int] = ..., last_index: _Optional[int] = ..., replica_status: _Optional[_Iterable[_Union[ReplicaInfo, _Mapping]]] = ..., keys: _Optional[int] = ..., used_memory: _Optional[int] = ..., failed_index: _Optional[int] = ..., failure: _Optional[str] = ...) -> None: ...

class SlotMap(_message.Message):
    __slots__ = ("epoch", "nodes", "shards")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    nodes: _containers.RepeatedCompositeFieldContainer[NodeInfo]
    shards: _containers.RepeatedCompositeFieldContainer[ShardInfo]
    def __init__(self, epoch: _Optional[int] = ..., nodes: _Optional[_Iterable[_Union[NodeInfo, _Mapping]]] = ..., shards: _Optional[_Iterable[_Union[ShardInfo, _Mapping]]] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ClusterStatus(_message.Message):
    __slots__ = ("node", "slot_map", "local", "version", "uptime_seconds", "identity", "last_save")
    NODE_FIELD_NUMBER: _ClassVar[int]
    SLOT_MAP_FIELD_NUMBER: _ClassVar[int]
    LOCAL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    LAST_SAVE_FIELD_NUMBER: _ClassVar[int]
    node: int
    slot_map: SlotMap
    local: _containers.RepeatedCompositeFieldContainer[ShardInfo]
    version: str
    uptime_seconds: float
    identity: str
    last_save: float
    def __init__(self, node: _Optional[int] = ..., slot_map: _Optional[_Union[SlotMap, _Mapping]] = ..., local: _Optional[_Iterable[_Union[ShardInfo, _Mapping]]] = ..., version: _Optional[str] = ..., uptime_seconds: _Optional[float] = ..., identity: _Optional[str] = ..., last_save: _Optional[float] = ...) -> None: ...

class TransferLeaderRequest(_message.Message):
    __slots__ = ("shard", "to_node")
    SHARD_FIELD_NUMBER: _ClassVar[int]
    TO_NODE_FIELD_NUMBER: _ClassVar[int]
    shard: int
    to_node: int
    def __init__(self, shard: _Optional[int] = ..., to_node: _Optional[int] = ...) -> None: ...

class TransferLeaderReply(_message.Message):
    __slots__ = ("ok", "error")
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    error: str
    def __init__(self, ok: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class HealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReleaseVotesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReleaseVotesReply(_message.Message):
    __slots__ = ("previous",)
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    previous: str
    def __init__(self, previous: _Optional[str] = ...) -> None: ...

class HealthReply(_message.Message):
    __slots__ = ("serving", "detail")
    SERVING_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    serving: bool
    detail: str
    def __init__(self, serving: _Optional[bool] = ..., detail: _Optional[str] = ...) -> None: ...

class ShardStatsRequest(_message.Message):
    __slots__ = ("shard",)
    SHARD_FIELD_NUMBER: _ClassVar[int]
    shard: int
    def __init__(self, shard: _Optional[int] = ...) -> None: ...

class ShardStats(_message.Message):
    __slots__ = ("values",)
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.ScalarMap[str, int]
    def __init__(self, values: _Optional[_Mapping[str, int]] = ...) -> None: ...

class RouterAnnouncement(_message.Message):
    __slots__ = ("address", "ttl_ms", "tls_port")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    TLS_PORT_FIELD_NUMBER: _ClassVar[int]
    address: str
    ttl_ms: int
    tls_port: int
    def __init__(self, address: _Optional[str] = ..., ttl_ms: _Optional[int] = ..., tls_port: _Optional[int] = ...) -> None: ...

class RouterList(_message.Message):
    __slots__ = ("addresses", "tls_ports")
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    TLS_PORTS_FIELD_NUMBER: _ClassVar[int]
    addresses: _containers.RepeatedScalarFieldContainer[str]
    tls_ports: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, addresses: _Optional[_Iterable[str]] = ..., tls_ports: _Optional[_Iterable[int]] = ...) -> None: ...

class ReplicationWaitRequest(_message.Message):
    __slots__ = ("shard", "index", "replicas", "timeout_ms")
    SHARD_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    shard: int
    index: int
    replicas: int
    timeout_ms: int
    def __init__(self, shard: _Optional[int] = ..., index: _Optional[int] = ..., replicas: _Optional[int] = ..., timeout_ms: _Optional[int] = ...) -> None: ...

class ReplicationWaitReply(_message.Message):
    __slots__ = ("leader", "leader_node", "holding")
    LEADER_FIELD_NUMBER: _ClassVar[int]
    LEADER_NODE_FIELD_NUMBER: _ClassVar[int]
    HOLDING_FIELD_NUMBER: _ClassVar[int]
    leader: bool
    leader_node: int
    holding: int
    def __init__(self, leader: _Optional[bool] = ..., leader_node: _Optional[int] = ..., holding: _Optional[int] = ...) -> None: ...

class SlotKeysRequest(_message.Message):
    __slots__ = ("shard", "slot", "count")
    SHARD_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    shard: int
    slot: int
    count: int
    def __init__(self, shard: _Optional[int] = ..., slot: _Optional[int] = ..., count: _Optional[int] = ...) -> None: ...

class SlotKeysReply(_message.Message):
    __slots__ = ("leader", "leader_node", "total", "keys")
    LEADER_FIELD_NUMBER: _ClassVar[int]
    LEADER_NODE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    leader: bool
    leader_node: int
    total: int
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, leader: _Optional[bool] = ..., leader_node: _Optional[int] = ..., total: _Optional[int] = ..., keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class SaveRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SaveReply(_message.Message):
    __slots__ = ("last_save",)
    LAST_SAVE_FIELD_NUMBER: _ClassVar[int]
    last_save: float
    def __init__(self, last_save: _Optional[float] = ...) -> None: ...

class SlotMoveRequest(_message.Message):
    __slots__ = ("op", "move_id", "first", "last", "source", "target", "shard", "items")
    OP_FIELD_NUMBER: _ClassVar[int]
    MOVE_ID_FIELD_NUMBER: _ClassVar[int]
    FIRST_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    op: str
    move_id: str
    first: int
    last: int
    source: int
    target: int
    shard: int
    items: bytes
    def __init__(self, op: _Optional[str] = ..., move_id: _Optional[str] = ..., first: _Optional[int] = ..., last: _Optional[int] = ..., source: _Optional[int] = ..., target: _Optional[int] = ..., shard: _Optional[int] = ..., items: _Optional[bytes] = ...) -> None: ...

class SlotMoveReply(_message.Message):
    __slots__ = ("ok", "error", "leader_node", "not_leader", "keys", "moves_json")
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LEADER_NODE_FIELD_NUMBER: _ClassVar[int]
    NOT_LEADER_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    MOVES_JSON_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    error: str
    leader_node: int
    not_leader: bool
    keys: int
    moves_json: str
    def __init__(self, ok: _Optional[bool] = ..., error: _Optional[str] = ..., leader_node: _Optional[int] = ..., not_leader: _Optional[bool] = ..., keys: _Optional[int] = ..., moves_json: _Optional[str] = ...) -> None: ...

class SlotExportRequest(_message.Message):
    __slots__ = ("shard", "first", "last", "after", "max_bytes", "keys_only", "dirty_only")
    SHARD_FIELD_NUMBER: _ClassVar[int]
    FIRST_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    KEYS_ONLY_FIELD_NUMBER: _ClassVar[int]
    DIRTY_ONLY_FIELD_NUMBER: _ClassVar[int]
    shard: int
    first: int
    last: int
    after: bytes
    max_bytes: int
    keys_only: bool
    dirty_only: bool
    def __init__(self, shard: _Optional[int] = ..., first: _Optional[int] = ..., last: _Optional[int] = ..., after: _Optional[bytes] = ..., max_bytes: _Optional[int] = ..., keys_only: _Optional[bool] = ..., dirty_only: _Optional[bool] = ...) -> None: ...

class SlotExportReply(_message.Message):
    __slots__ = ("ok", "error", "leader_node", "not_leader", "last_key", "done", "items", "count")
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LEADER_NODE_FIELD_NUMBER: _ClassVar[int]
    NOT_LEADER_FIELD_NUMBER: _ClassVar[int]
    LAST_KEY_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    error: str
    leader_node: int
    not_leader: bool
    last_key: bytes
    done: bool
    items: bytes
    count: int
    def __init__(self, ok: _Optional[bool] = ..., error: _Optional[str] = ..., leader_node: _Optional[int] = ..., not_leader: _Optional[bool] = ..., last_key: _Optional[bytes] = ..., done: _Optional[bool] = ..., items: _Optional[bytes] = ..., count: _Optional[int] = ...) -> None: ...

class RetireRequest(_message.Message):
    __slots__ = ("node", "epoch")
    NODE_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    node: int
    epoch: int
    def __init__(self, node: _Optional[int] = ..., epoch: _Optional[int] = ...) -> None: ...

class RetireReply(_message.Message):
    __slots__ = ("ok", "error")
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    error: str
    def __init__(self, ok: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class MembershipChangeRequest(_message.Message):
    __slots__ = ("id", "kind", "node", "new_node", "address", "finish", "epoch")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    NEW_NODE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    FINISH_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: str
    node: int
    new_node: int
    address: str
    finish: bool
    epoch: int
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[str] = ..., node: _Optional[int] = ..., new_node: _Optional[int] = ..., address: _Optional[str] = ..., finish: _Optional[bool] = ..., epoch: _Optional[int] = ...) -> None: ...

class MembershipChangeReply(_message.Message):
    __slots__ = ("applied", "error", "leader", "epoch")
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    applied: bool
    error: str
    leader: int
    epoch: int
    def __init__(self, applied: _Optional[bool] = ..., error: _Optional[str] = ..., leader: _Optional[int] = ..., epoch: _Optional[int] = ...) -> None: ...

class GroupProgress(_message.Message):
    __slots__ = ("group", "settled", "step", "voters", "learners", "target", "commit", "slowest_match")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    SETTLED_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    VOTERS_FIELD_NUMBER: _ClassVar[int]
    LEARNERS_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    SLOWEST_MATCH_FIELD_NUMBER: _ClassVar[int]
    group: int
    settled: bool
    step: str
    voters: _containers.RepeatedScalarFieldContainer[int]
    learners: _containers.RepeatedScalarFieldContainer[int]
    target: _containers.RepeatedScalarFieldContainer[int]
    commit: int
    slowest_match: int
    def __init__(self, group: _Optional[int] = ..., settled: _Optional[bool] = ..., step: _Optional[str] = ..., voters: _Optional[_Iterable[int]] = ..., learners: _Optional[_Iterable[int]] = ..., target: _Optional[_Iterable[int]] = ..., commit: _Optional[int] = ..., slowest_match: _Optional[int] = ...) -> None: ...

class MembershipProgressReply(_message.Message):
    __slots__ = ("node", "epoch", "in_flight_id", "in_flight", "groups")
    NODE_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_ID_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    node: int
    epoch: int
    in_flight_id: str
    in_flight: str
    groups: _containers.RepeatedCompositeFieldContainer[GroupProgress]
    def __init__(self, node: _Optional[int] = ..., epoch: _Optional[int] = ..., in_flight_id: _Optional[str] = ..., in_flight: _Optional[str] = ..., groups: _Optional[_Iterable[_Union[GroupProgress, _Mapping]]] = ...) -> None: ...

class ConfigValues(_message.Message):
    __slots__ = ("version", "values", "acl_version", "acl", "databases")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    VERSION_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    ACL_VERSION_FIELD_NUMBER: _ClassVar[int]
    ACL_FIELD_NUMBER: _ClassVar[int]
    DATABASES_FIELD_NUMBER: _ClassVar[int]
    version: int
    values: _containers.ScalarMap[str, str]
    acl_version: int
    acl: str
    databases: str
    def __init__(self, version: _Optional[int] = ..., values: _Optional[_Mapping[str, str]] = ..., acl_version: _Optional[int] = ..., acl: _Optional[str] = ..., databases: _Optional[str] = ...) -> None: ...

class DbSwapStep(_message.Message):
    __slots__ = ("first", "second", "fenced_epoch", "fenced_shard")
    FIRST_FIELD_NUMBER: _ClassVar[int]
    SECOND_FIELD_NUMBER: _ClassVar[int]
    FENCED_EPOCH_FIELD_NUMBER: _ClassVar[int]
    FENCED_SHARD_FIELD_NUMBER: _ClassVar[int]
    first: int
    second: int
    fenced_epoch: int
    fenced_shard: int
    def __init__(self, first: _Optional[int] = ..., second: _Optional[int] = ..., fenced_epoch: _Optional[int] = ..., fenced_shard: _Optional[int] = ...) -> None: ...

class ConfigSetRequest(_message.Message):
    __slots__ = ("values", "acl_change", "swap")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    VALUES_FIELD_NUMBER: _ClassVar[int]
    ACL_CHANGE_FIELD_NUMBER: _ClassVar[int]
    SWAP_FIELD_NUMBER: _ClassVar[int]
    values: _containers.ScalarMap[str, str]
    acl_change: str
    swap: DbSwapStep
    def __init__(self, values: _Optional[_Mapping[str, str]] = ..., acl_change: _Optional[str] = ..., swap: _Optional[_Union[DbSwapStep, _Mapping]] = ...) -> None: ...

class ConfigSetReply(_message.Message):
    __slots__ = ("ok", "error", "leader", "applied", "acl_result", "acl_refused", "swap_epoch")
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    ACL_RESULT_FIELD_NUMBER: _ClassVar[int]
    ACL_REFUSED_FIELD_NUMBER: _ClassVar[int]
    SWAP_EPOCH_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    error: str
    leader: int
    applied: ConfigValues
    acl_result: int
    acl_refused: bool
    swap_epoch: int
    def __init__(self, ok: _Optional[bool] = ..., error: _Optional[str] = ..., leader: _Optional[int] = ..., applied: _Optional[_Union[ConfigValues, _Mapping]] = ..., acl_result: _Optional[int] = ..., acl_refused: _Optional[bool] = ..., swap_epoch: _Optional[int] = ...) -> None: ...

class ReplicaReport(_message.Message):
    __slots__ = ("shard", "role", "term", "commit", "applied", "last_index", "entries_since_snapshot", "followers", "used_memory", "keys")
    SHARD_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    LAST_INDEX_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_SINCE_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    FOLLOWERS_FIELD_NUMBER: _ClassVar[int]
    USED_MEMORY_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    shard: int
    role: str
    term: int
    commit: int
    applied: int
    last_index: int
    entries_since_snapshot: int
    followers: _containers.RepeatedCompositeFieldContainer[ReplicaInfo]
    used_memory: int
    keys: int
    def __init__(self, shard: _Optional[int] = ..., role: _Optional[str] = ..., term: _Optional[int] = ..., commit: _Optional[int] = ..., applied: _Optional[int] = ..., last_index: _Optional[int] = ..., entries_since_snapshot: _Optional[int] = ..., followers: _Optional[_Iterable[_Union[ReplicaInfo, _Mapping]]] = ..., used_memory: _Optional[int] = ..., keys: _Optional[int] = ...) -> None: ...

class NodeReport(_message.Message):
    __slots__ = ("node", "address", "uptime_seconds", "rss_bytes", "cpu_user_seconds", "cpu_sys_seconds", "wal_segments", "wal_bytes", "wal_bytes_written", "wal_ok", "last_snapshot_time", "snapshots_taken", "replicas", "peak_used_memory")
    NODE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    CPU_USER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CPU_SYS_SECONDS_FIELD_NUMBER: _ClassVar[int]
    WAL_SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    WAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    WAL_BYTES_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    WAL_OK_FIELD_NUMBER: _ClassVar[int]
    LAST_SNAPSHOT_TIME_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOTS_TAKEN_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    PEAK_USED_MEMORY_FIELD_NUMBER: _ClassVar[int]
    node: int
    address: str
    uptime_seconds: float
    rss_bytes: int
    cpu_user_seconds: float
    cpu_sys_seconds: float
    wal_segments: int
    wal_bytes: int
    wal_bytes_written: int
    wal_ok: bool
    last_snapshot_time: float
    snapshots_taken: int
    replicas: _containers.RepeatedCompositeFieldContainer[ReplicaReport]
    peak_used_memory: int
    def __init__(self, node: _Optional[int] = ..., address: _Optional[str] = ..., uptime_seconds: _Optional[float] = ..., rss_bytes: _Optional[int] = ..., cpu_user_seconds: _Optional[float] = ..., cpu_sys_seconds: _Optional[float] = ..., wal_segments: _Optional[int] = ..., wal_bytes: _Optional[int] = ..., wal_bytes_written: _Optional[int] = ..., wal_ok: _Optional[bool] = ..., last_snapshot_time: _Optional[float] = ..., snapshots_taken: _Optional[int] = ..., replicas: _Optional[_Iterable[_Union[ReplicaReport, _Mapping]]] = ..., peak_used_memory: _Optional[int] = ...) -> None: ...

class SettingsAdoption(_message.Message):
    __slots__ = ("version", "shards")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    version: int
    shards: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, version: _Optional[int] = ..., shards: _Optional[_Iterable[int]] = ...) -> None: ...

"""Cluster-wide engine settings: the metadata group's config entries (all or none, total),
the settings entries every replica of a shard adopts at one point of its log, their place
in shard snapshots, and when a shard leader proposes one."""

from __future__ import annotations

import json
import marshal
import struct

import pytest

from node import entry_codec
from node.engine.config import EngineConfig, configure
from node.engine.engine import Engine
from node.host import MetadataReplica, NodeHost
from node.metadata import ClusterMap, MetadataState
from node.shard_state import ShardState
from proto.redis_config import CLUSTER_PARAMETERS, ENGINE_PARAMETERS, lookup
from proto.topology import ShardPlacement


def settings_entry(settings: dict[str, str], time_ms: int = 1) -> bytes:
    pairs = [(k.encode(), v.encode()) for k, v in settings.items()]
    return entry_codec.encode(entry_codec.ShardEntry(time_ms, 7, [], [], [], pairs))


def command_entry(*commands: list[bytes], time_ms: int = 1) -> bytes:
    request = entry_codec.Request(0, 0, 0, entry_codec.COMMANDS, False, list(commands), [])
    return entry_codec.encode(entry_codec.ShardEntry(time_ms, 7, [request], [], []))


def hset(key: bytes, fields: int) -> list[bytes]:
    return [b"HSET", key, *[x for i in range(fields) for x in (b"f%d" % i, b"v")]]


# ---------------------------------------------------------------------- the entry codec


def test_a_settings_entry_round_trips_and_ordinary_entries_keep_version_1():
    data = settings_entry({"maxmemory": "1024", "maxmemory-policy": "allkeys-lru"})
    assert data[0] == entry_codec.SETTINGS_VERSION
    decoded = entry_codec.decode(data)
    assert decoded.settings == [(b"maxmemory", b"1024"), (b"maxmemory-policy", b"allkeys-lru")]
    assert decoded.requests == []
    assert command_entry([b"PING"])[0] == entry_codec.ENTRY_VERSION
    assert entry_codec.decode(command_entry([b"PING"])).settings is None


@pytest.mark.parametrize(
    "body",
    [
        (1, 2, [(b"a",)]),
        (1, 2, [(b"a", 5)]),
        (1, 2, "x"),
        (1, -2, []),
        (1, 2, [(b"a" * 100, b"1")]),
        (1, 2, [(b"a", b"1")] * 300),
    ],
)
def test_a_malformed_settings_entry_is_refused(body):
    with pytest.raises(entry_codec.EntryFormatError):
        entry_codec.decode(bytes((entry_codec.SETTINGS_VERSION,)) + marshal.dumps(body, 4))


# ---------------------------------------------------------------------- shard state


def test_replicas_adopt_settings_at_the_entry_s_position_and_encodings_follow():
    """Two replicas applying the same log agree on OBJECT ENCODING whatever their
    start-up thresholds: the ones before the settings entry are the start-up ones, the
    replicated ones after."""
    log = [
        command_entry(hset(b"before", 10)),
        settings_entry({"hash-max-listpack-entries": "4"}),
        command_entry(hset(b"after", 10)),
        command_entry(hset(b"before", 11)),
    ]
    replicas = [ShardState(Engine(EngineConfig())) for _ in range(2)]
    for replica in replicas:
        for data in log:
            replica.apply(data)
    for replica in replicas:
        values = replica.engine.db.data
        assert values[b"before"].encoding() == b"hashtable"  # converted by its 11th field
        assert values[b"after"].encoding() == b"hashtable"
        assert replica.engine.config.hash_max_listpack_entries == 4
    assert replicas[0].digest() == replicas[1].digest()
    # Before the entry, a hash of 10 fields stays a listpack: the start-up threshold.
    early = ShardState(Engine(EngineConfig()))
    early.apply(log[0])
    assert early.engine.db.data[b"before"].encoding() == b"listpack"


def test_a_settings_entry_replaces_the_replicated_settings_over_the_start_up_values():
    state = ShardState(Engine(EngineConfig(maxmemory=5000, max_command_work=1000)))
    state.apply(settings_entry({"maxmemory": "100", "maxmemory-policy": "allkeys-lru"}))
    config = state.engine.config
    assert (config.maxmemory, config.maxmemory_policy, config.max_command_work) == (
        100,
        "allkeys-lru",
        1000,
    )
    state.apply(settings_entry({"max-command-work": "50"}))
    assert (config.maxmemory, config.maxmemory_policy, config.max_command_work) == (
        5000,
        "noeviction",
        50,
    )
    assert state.settings == {"max-command-work": "50"}


def test_an_invalid_setting_in_an_entry_is_skipped_the_same_everywhere():
    state = ShardState()
    state.apply(settings_entry({"maxmemory": "lots", "nosuch": "1", "maxmemory-samples": "9"}))
    assert state.engine.config.maxmemory == 0
    assert state.engine.config.maxmemory_samples == 9


def test_snapshots_carry_the_settings_and_older_ones_restore_the_start_up_values():
    state = ShardState()
    state.apply(settings_entry({"maxmemory": "4096", "zset-max-listpack-entries": "2"}))
    state.apply(command_entry([b"ZADD", b"z", b"1", b"a", b"2", b"b", b"3", b"c"]))
    snapshot = state.snapshot()
    assert snapshot.startswith(b"SRSHARD4")
    restored = ShardState(Engine(EngineConfig()))
    restored.restore(snapshot)
    assert restored.settings == state.settings
    assert restored.engine.config.maxmemory == 4096
    assert restored.engine.db.data[b"z"].encoding() == b"skiplist"
    assert restored.digest() == state.digest()
    # A restored replica adds members under the replicated threshold, as the others do.
    for replica in (state, restored):
        replica.apply(command_entry([b"ZADD", b"y", b"1", b"a", b"2", b"b", b"3", b"c"]))
    assert restored.digest() == state.digest()
    # SRSHARD3 (no settings section): the node's own values.
    layout = ">8sqQQQQQ"
    _, clock, *sizes, _settings_size = struct.unpack_from(layout, snapshot)
    body = snapshot[struct.calcsize(layout) :][: sum(sizes)]
    older = struct.pack(">8sqQQQQ", b"SRSHARD3", clock, *sizes) + body
    plain = ShardState(Engine(EngineConfig(maxmemory=77)))
    plain.apply(settings_entry({"maxmemory": "1"}))
    plain.restore(older)
    assert plain.settings == {} and plain.engine.config.maxmemory == 77


def test_a_shard_without_replicated_settings_snapshots_as_before_them():
    """SRSHARD3, byte for byte what the version before settings wrote: it can still read
    the snapshots of a cluster that never ran CONFIG SET."""
    state = ShardState()
    state.apply(command_entry([b"SET", b"k", b"v"]))
    snapshot = state.snapshot()
    assert snapshot.startswith(b"SRSHARD3")
    restored = ShardState()
    restored.restore(snapshot)
    assert restored.digest() == state.digest()


def test_each_shard_of_a_node_has_a_config_of_its_own():
    """Shards change settings at different points of different logs: sharing one config
    object would change one shard's engine when another applies its entry."""
    first, second = ShardState(Engine(EngineConfig())), ShardState(Engine(EngineConfig()))
    first.apply(settings_entry({"maxmemory": "1"}))
    assert second.engine.config.maxmemory == 0


def test_configure_sets_every_engine_parameter():
    base = EngineConfig()
    config = EngineConfig()
    overrides = {}
    for name in sorted(ENGINE_PARAMETERS):
        parameter = lookup(name)
        assert parameter is not None
        overrides[name] = "allkeys-lfu" if name == "maxmemory-policy" else "KE"
        if name not in ("maxmemory-policy", "notify-keyspace-events"):
            overrides[name] = str(max(int(parameter.default), 1) * 2 + 1048576)
    configure(config, base, overrides)
    for name, value in overrides.items():
        assert str(getattr(config, name.replace("-", "_"))) == value


# ---------------------------------------------------------------------- the metadata group


def metadata() -> MetadataState:
    fallback = ClusterMap(0, {1: "127.0.0.1:1"}, [ShardPlacement(0, ((0, 16383),), (1,))])
    return MetadataState(fallback)


def config_entry(settings: dict, config_id: str = "x") -> bytes:
    return json.dumps({"op": "config", "settings": settings, "id": config_id}).encode()


def test_a_config_entry_applies_all_its_settings_or_none():
    state = metadata()
    changes = []
    state.settings_listeners.append(lambda: changes.append(dict(state.settings)))
    state.apply(5, config_entry({"maxmemory": "1024", "slowlog-max-len": "10"}, "a"))
    assert state.settings == {"maxmemory": "1024", "slowlog-max-len": "10"}
    assert state.settings_version == 5 and "a" in state.applied_config_ids
    for refused in (
        {"maxmemory": "1024", "hz": "20"},  # not cluster-wide
        {"maxmemory": "1mb"},  # not canonical
        {"maxmemory": "lots"},
        {"MAXMEMORY": "1"},
        {"maxmemory": 5},
        {"timeout": "5"},  # router-local
        {},
    ):
        state.apply(9, config_entry(refused))
    state.apply(10, b'{"op": "config"}')
    assert state.settings == {"maxmemory": "1024", "slowlog-max-len": "10"}
    assert state.settings_version == 5
    assert len(changes) == 1


def test_metadata_snapshots_carry_the_settings_and_old_ones_still_restore():
    state = metadata()
    state.apply(3, config_entry({"maxmemory-policy": "allkeys-lru"}))
    restored = metadata()
    restored.restore(state.snapshot())
    assert restored.settings == {"maxmemory-policy": "allkeys-lru"}
    assert restored.settings_version == 3
    old = json.dumps({"installed": True, "map": json.loads(state.map.to_json())}).encode()
    restored.restore(old)
    assert restored.settings == {} and restored.settings_version == 0


def test_every_cluster_parameter_is_known():
    for name in CLUSTER_PARAMETERS:
        parameter = lookup(name)
        assert parameter is not None and parameter.name == name
        assert parameter.parse(parameter.default, parameter.default) == parameter.default


# ---------------------------------------------------------------------- the shard leader


class _Raft:
    def __init__(self, leader: int, term: int) -> None:
        self.leader = leader
        self.term = term


class _Replica:
    def __init__(self) -> None:
        self.proposed: list[dict] = []

    def propose_settings(self, desired: dict) -> bool:
        self.proposed.append(desired)
        return True


def test_a_shard_leader_proposes_settings_only_once_the_metadata_state_is_current(tmp_path):
    """After a restart the metadata group replays its log later than a shard may elect a
    leader: proposing before would reset a shard's settings to stale ones."""
    description_map = metadata()
    description_map.apply(2, config_entry({"maxmemory": "100"}))
    host = NodeHost.__new__(NodeHost)
    replica = _Replica()
    host.shards = {0: replica}  # type: ignore[dict-item]
    host.metadata = MetadataReplica(_Raft(leader=0, term=3), description_map, 2, 2)  # type: ignore[arg-type]
    assert not host._sync_shard_settings()  # no leader known
    host.metadata.raft.leader = 1
    assert not host._sync_shard_settings()  # nothing of term 3 applied yet
    host.metadata.applied_term = 3
    assert host._sync_shard_settings()
    assert replica.proposed == [{"maxmemory": "100"}]


def test_a_settings_entry_has_nothing_to_answer():
    state = ShardState()
    result = state.apply(settings_entry({"maxmemory": "1"}))
    assert result.results == [] and result.settings_changed

"""DUMP and RESTORE, as Redis 7.0's cluster.c: values serialized in Redis's RDB format
(proto.rdb), so that payloads move between slotraft and redis-server both ways.

DUMP writes what redis-server writes for the same value and encoding (byte for byte),
except where Redis's bytes depend on its memory layout or history rather than on the
value: a hashtable set or hash lists its members in the order of Redis's salted hash
table (here: the replicated order), and a list longer than one 8 KB quicklist node that
anything but pushes and pops changed (LSET, LINSERT, LREM), or that an old RDB list type
made, is split as if it had been built by RPUSH (RESTORE of a quicklist keeps its nodes,
as Redis's; snapshots keep them: DUMP's bytes are replicated state when a script or a
transaction stores them). Streams: node.engine.stream_rdb.

The codec's costs, measured on the test machine (`slotraft bench rdb`), are charged before
the work (a unit of work is about a microsecond). CRC-64 and LZF run in C (anycrc,
liblzf), in CPU time: ~0.1 ns a byte for the CRC, 3 (text) to 6 (random bytes) ns a
byte of a string over 20 bytes to compress, ~2.6 ns a byte to decompress, charged with
room to spare (2048, 100 and 256 bytes a unit). The containers' elements are written
and parsed in Python: a unit per string and one per 4 bytes of them written; for a
container's payload ~0.5 us a byte parsed and about a quarter of that per byte LZF
decompresses to (a quicklist's nodes are then parsed as listpacks)."""

from __future__ import annotations

from typing import Any

from node.engine.errors import CommandError
from node.engine.eviction import LfuTracker, LruTracker
from node.engine.hash_value import HashValue
from node.engine.keyspace import Keyspace
from node.engine.list_value import ListValue
from node.engine.parsing import to_int
from node.engine.registry import command
from node.engine.set_value import SetValue
from node.engine.stream_rdb import from_rdb, to_rdb
from node.engine.stream_value import StreamValue
from node.engine.zset_value import ZSetValue, score_text
from proto.errors import NOT_INTEGER, SYNTAX
from proto.rdb import values as rdb
from proto.rdb.reader import FormatError
from proto.rdb.stream import encode_stream_value
from proto.resp import OK, Reply

BAD_PAYLOAD = b"ERR DUMP payload version or checksum are wrong"
BAD_FORMAT = b"ERR Bad data format"
BUSYKEY = b"BUSYKEY Target key name already exists."
BAD_TTL = b"ERR Invalid TTL value, must be >= 0"
BAD_IDLETIME = b"ERR Invalid IDLETIME value, must be >= 0"
BAD_FREQ = b"ERR Invalid FREQ value, must be >= 0 and <= 255"

# Work per byte (see the module's docstring): LZF is tried on strings over 20 bytes.
_COMPRESS_BYTES_PER_WORK = 100
_CRC_BYTES_PER_WORK = 2048
# A container's elements are written in Python (~1 us for 4 bytes of them, besides a unit
# per string) and its payload parsed in Python; a string's payload is one slice.
_CONTAINER_BYTES_PER_WORK = 4
_DECODE_WORK_PER_BYTE = 1
# What LZF writes for a string value is its value; for a container (quicklist nodes,
# ziplists, ...) it is parsed after.
_STRING_DECOMPRESSED_BYTES_PER_WORK = 256
_DECOMPRESSED_BYTES_PER_WORK = 4


def _size(value: Any) -> tuple[int, int]:
    """(bytes of the value's strings, number of strings), from the byte counts the
    containers keep (their `mem` estimate: an upper bound of the strings' bytes)."""
    if type(value) is bytes or type(value) is bytearray:
        return len(value), 1
    if isinstance(value, HashValue):
        return value.mem, 2 * len(value)
    if isinstance(value, StreamValue):
        # Each entry is unpacked and re-encoded as a few listpack elements (its flags,
        # ID and count besides its fields and values); each pending entry twice.
        pending = sum(len(group.pel) for group in value.groups.values())
        return value.mem, 4 * len(value) + 2 * pending
    return value.mem, len(value)


def serialize(value: Any, charge: rdb.Charge) -> bytes:
    """The RDB type byte and value of an engine value (no footer); `charge` is told the
    bytes each string's LZF compression is about to go through."""
    if type(value) is bytes or type(value) is bytearray:
        return rdb.encode_string_value(bytes(value), charge)
    if isinstance(value, ListValue):
        return rdb.encode_list_value(list(value), charge, value.node_counts())
    if isinstance(value, SetValue):
        return rdb.encode_set_value(value.members(), value.is_intset, charge)
    if isinstance(value, HashValue):
        return rdb.encode_hash_value(list(value.items()), value.is_listpack, charge)
    if isinstance(value, ZSetValue):
        entries = list(value)
        if value.is_listpack:
            pairs = [(member, score_text(score)) for member, score in entries]
            return rdb.encode_zset_listpack(pairs, charge)
        return rdb.encode_zset_skiplist(entries, charge)
    if isinstance(value, StreamValue):
        return encode_stream_value(to_rdb(value), charge)
    raise TypeError(f"no RDB form for {type(value).__name__}")


def dump_payload(db: Keyspace, value: Any) -> bytes:
    """DUMP's payload, the work charged as it goes: the strings and the CRC first, each
    compression before it runs (a read: stopping half-way changes nothing)."""
    size, count = _size(value)
    if type(value) is bytes or type(value) is bytearray:
        db.charge(1 + size // _CRC_BYTES_PER_WORK)
    else:
        db.charge(count + size // _CONTAINER_BYTES_PER_WORK)

    def charge_compression(length: int) -> None:
        db.charge(1 + length // _COMPRESS_BYTES_PER_WORK)

    return rdb.wrap_payload(serialize(value, charge_compression))


def restore_value(db: Keyspace, decoded: rdb.Decoded) -> Any:
    """An engine value from a decoded RDB value, encoded as Redis encodes what it loads
    (ValueError for duplicate members, as Redis refuses them)."""
    config = db.config
    if decoded.kind == b"string":
        return bytes(decoded.items)
    if decoded.kind == b"stream":
        return from_rdb(decoded.items)
    if decoded.kind == b"list":
        if not decoded.items:
            raise ValueError("empty list")
        return ListValue.with_nodes(decoded.items, decoded.node_counts)
    if not decoded.items:
        raise ValueError("empty collection")
    if decoded.kind == b"set":
        return SetValue.from_snapshot_items(config, decoded.items)
    if decoded.kind == b"hash":
        return HashValue.from_snapshot_items(config, decoded.items)
    return ZSetValue.from_snapshot_items(config, decoded.items)


def load_payload(db: Keyspace, payload: bytes) -> Any:
    """The value of a DUMP payload, or Redis's RESTORE error."""
    db.charge(len(payload) // _CRC_BYTES_PER_WORK)
    if not rdb.check_payload(payload):
        raise CommandError(BAD_PAYLOAD)
    is_string = payload[:1] == bytes((rdb.TYPE_STRING,))
    if not is_string:
        db.charge(len(payload) * _DECODE_WORK_PER_BYTE)
    per_work = _STRING_DECOMPRESSED_BYTES_PER_WORK if is_string else _DECOMPRESSED_BYTES_PER_WORK

    def charge_decompression(size: int) -> None:
        db.charge(size // per_work)

    try:
        return restore_value(db, rdb.read_payload(payload, charge_decompression))
    except (FormatError, ValueError):
        raise CommandError(BAD_FORMAT) from None


@command("dump")
def dump(db: Keyspace, args: list[bytes]) -> Reply:
    value = db.lookup(args[1])
    if value is None:
        return None
    return dump_payload(db, value)


def _long_long(arg: bytes) -> int:
    value = to_int(arg)
    if value is None:
        raise CommandError(NOT_INTEGER)
    return value


@command("restore")
def restore(db: Keyspace, args: list[bytes]) -> Reply:
    """restoreCommand: options, then BUSYKEY, then the TTL, then the payload. IDLETIME and
    FREQ set the key's access data in the eviction tracker (node.engine.eviction) when the
    policy keeps it."""
    key = args[1]
    replace = absttl = False
    idle = freq = -1
    index = 4
    while index < len(args):
        option = args[index].lower()
        more = len(args) - index - 1
        if option == b"replace":
            replace = True
        elif option == b"absttl":
            absttl = True
        elif option == b"idletime" and more >= 1 and freq == -1:
            idle = _long_long(args[index + 1])
            if idle < 0:
                raise CommandError(BAD_IDLETIME)
            index += 1
        elif option == b"freq" and more >= 1 and idle == -1:
            freq = _long_long(args[index + 1])
            if freq < 0 or freq > 255:
                raise CommandError(BAD_FREQ)
            index += 1
        else:
            raise CommandError(SYNTAX)
        index += 1
    if not replace and db.lookup(key) is not None:
        raise CommandError(BUSYKEY)
    ttl = _long_long(args[2])
    if ttl < 0:
        raise CommandError(BAD_TTL)
    value = load_payload(db, args[3])
    if ttl and not absttl:
        ttl += db.now_ms
    if ttl and ttl <= db.now_ms:
        # Already expired: the key is not created; an old one (REPLACE) goes.
        if replace:
            db.expire_keys([key])
            db.delete(key)
        return OK
    if replace:
        db.expire_keys([key])
        db.delete(key)
    db.set(key, value)
    if ttl:
        db.set_expire(key, ttl)
    _set_access(db, key, idle, freq)
    db.notify("g", b"restore", key)
    return OK


def _set_access(db: Keyspace, key: bytes, idle: int, freq: int) -> None:
    """objectSetLRUOrLFU: FREQ under an LFU policy, IDLETIME under the others (here only
    an LRU policy keeps access times)."""
    tracker = db.access_tracker
    if isinstance(tracker, LfuTracker):
        if freq >= 0:
            tracker.set_frequency(key, freq)
    elif isinstance(tracker, LruTracker) and idle >= 0:
        tracker.set_idle(key, idle * 1000)

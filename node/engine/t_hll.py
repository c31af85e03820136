"""HyperLogLog commands, as Redis 7.0's hyperloglog.c: PFADD, PFCOUNT, PFMERGE, PFDEBUG,
PFSELFTEST. The value is a string holding Redis's own representation
(node.engine.hyperloglog), so GET of it is byte-identical to Redis's.

PFCOUNT of one key writes the cardinality it computed into the header's cache, as Redis
does (GET after PFCOUNT shows it): PFCOUNT is a write in the command table here, so every
replica applies it through the log and their values stay identical."""

from __future__ import annotations

import random

import numpy as np

from node.engine import hyperloglog as hll
from node.engine.errors import CommandError
from node.engine.keyspace import Keyspace
from node.engine.registry import command
from node.engine.work import string_work
from proto.errors import WRONGTYPE
from proto.resp import OK, Reply, Simple

INVALID_HLL = b"INVALIDOBJ Corrupted HLL object detected"
NOT_HLL = b"WRONGTYPE Key is not a valid HyperLogLog string value."
NO_SUCH_KEY = b"ERR The specified key does not exist"
NOT_SPARSE = b"ERR HLL encoding is not sparse"

# Work (node.engine.work), measured here: hashing an element costs about a microsecond
# plus one per 8-byte block (MURMUR_BLOCKS_PER_ELEMENT blocks per element of work); one
# change of a sparse HLL a few microseconds (its opcodes are found by bisection, moved by
# list slices); reading or writing the 16384 dense registers (numpy) about 50
# microseconds, DENSE_WORK; walking a sparse payload, one element per SPARSE_BYTES_PER_
# ELEMENT of its bytes (it may be any length: a string SET by a client).
MURMUR_BLOCKS_PER_ELEMENT = 4
SPARSE_SET_WORK = 3
DENSE_WORK = 50
SPARSE_BYTES_PER_ELEMENT = 1


def _lookup(db: Keyspace, key: bytes, read: bool = False) -> bytes | bytearray | None:
    """The HLL at `key` (None if absent), with Redis's WRONGTYPE errors; `read` for
    Redis's lookupKeyRead (a miss is a keymiss event)."""
    value = db.lookup_read(key) if read else db.lookup(key)
    if value is None:
        return None
    if type(value) is not bytes and type(value) is not bytearray:
        raise CommandError(WRONGTYPE)
    if not hll.is_hll(value):
        raise CommandError(NOT_HLL)
    return value


def _read_work(value: bytes | bytearray) -> int:
    if value[4] == hll.DENSE:
        return DENSE_WORK
    return (len(value) - hll.HEADER) // SPARSE_BYTES_PER_ELEMENT + 1


def _sparse_set_work(db: Keyspace, value: bytes | bytearray) -> int:
    """One sparse change: a few microseconds, and the list slices move its opcodes (one
    element more per 2 KB the sparse value may grow to, hll-sparse-max-bytes)."""
    if value[4] == hll.DENSE:
        return SPARSE_SET_WORK
    return SPARSE_SET_WORK + max(db.config.hll_sparse_max_bytes, len(value)) // 2048


def _hash_work(elements: list[bytes]) -> int:
    return sum(1 + len(element) // (8 * MURMUR_BLOCKS_PER_ELEMENT) for element in elements)


def _store(db: Keyspace, key: bytes, value: bytearray, new: bool) -> None:
    # An HLL is a raw string (a bytearray here), its TTL kept as it is changed in place.
    db.set(key, value, keep_ttl=not new)


# ---------------------------------------------------------------------- PFADD


@command("pfadd")
def pfadd(db: Keyspace, args: list[bytes]) -> Reply:
    key, elements = args[1], args[2:]
    current = _lookup(db, key)
    new = current is None
    value = hll.created() if current is None else bytearray(current)
    db.charge(
        _hash_work(elements)
        + DENSE_WORK
        + _read_work(value)
        + _sparse_set_work(db, value) * len(elements)
        + string_work(len(value))
    )
    updated = 1 if new else 0
    failed = False
    if value[4] == hll.SPARSE:
        edit = hll.SparseEdit.of(value)
        registers: np.ndarray | None = None
        for index, count in zip(*hll.patterns(elements)):
            if registers is not None:
                if count > registers[index]:
                    registers[index] = count
                    updated += 1
                continue
            try:
                result = edit.set(index, count, db.config.hll_sparse_max_bytes)
            except hll.CorruptedHLL:
                failed = True
                break
            if result is None:
                # Promoted: the dense registers from here on (the header stays).
                try:
                    registers = _sparse_edit_registers(edit)
                except hll.CorruptedHLL:
                    failed = True
                    break
                registers[index] = max(int(registers[index]), count)
                updated += 1
            else:
                updated += result
        if registers is not None:
            dense = hll.to_dense(value, registers)
            value = dense
        else:
            value = value[: hll.HEADER] + edit.payload()
    else:
        registers = hll.dense_registers(value)
        indexes, counts = hll.patterns(elements)
        grown = registers.copy()
        np.maximum.at(grown, np.array(indexes, dtype=np.intp), np.array(counts, dtype=np.uint8))
        if not np.array_equal(grown, registers):
            updated += 1
            hll.store_dense(value, grown)
    if failed:
        # Redis changed the value in place up to the corrupted opcode, without a
        # notification or a change of the cache flag.
        if updated:
            hll.invalidate(value)
        _store(db, key, value, new)
        raise CommandError(INVALID_HLL)
    if updated:
        hll.invalidate(value)
        _store(db, key, value, new)
        db.notify("$", b"pfadd", key)
        return 1
    if type(current) is bytes:
        # Redis unshares the string: it is raw (a bytearray) from now on.
        _store(db, key, value, new)
    return 0


def _sparse_edit_registers(edit: hll.SparseEdit) -> np.ndarray:
    """The registers of a sparse HLL being edited (hllSparseToDense's reading)."""
    header = bytes(hll.HEADER)
    return hll.sparse_registers(header + edit.payload())


# ---------------------------------------------------------------------- PFCOUNT


@command("pfcount")
def pfcount(db: Keyspace, args: list[bytes]) -> Reply:
    if len(args) > 2:
        maximum = np.zeros(hll.REGISTERS, dtype=np.uint8)
        for key in args[1:]:
            value = _lookup(db, key, read=True)
            if value is None:
                continue
            db.charge(_read_work(value) + DENSE_WORK)
            try:
                maximum = np.maximum(maximum, hll.registers_of(value))
            except hll.CorruptedHLL:
                raise CommandError(INVALID_HLL) from None
        return hll.estimate(hll.histogram_of(maximum))
    key = args[1]
    value = _lookup(db, key, read=True)
    if value is None:
        return 0
    known = hll.cached(value)
    if known is not None:
        if type(value) is bytes and db.mutating:
            _store(db, key, bytearray(value), False)
        return known
    db.charge(_read_work(value) + string_work(len(value)))
    try:
        if value[4] == hll.DENSE:
            histogram = hll.histogram_of(hll.dense_registers(value))
        else:
            histogram = hll.sparse_histogram(value)
    except hll.CorruptedHLL:
        raise CommandError(INVALID_HLL) from None
    cardinality = hll.estimate(histogram)
    if db.mutating:
        changed = bytearray(value)
        hll.set_cached(changed, cardinality)
        _store(db, key, changed, False)
    return cardinality


# ---------------------------------------------------------------------- PFMERGE


@command("pfmerge")
def pfmerge(db: Keyspace, args: list[bytes]) -> Reply:
    maximum = np.zeros(hll.REGISTERS, dtype=np.uint8)
    use_dense = False
    for key in args[1:]:
        value = _lookup(db, key, read=True)
        if value is None:
            continue
        db.charge(_read_work(value) + DENSE_WORK)
        if value[4] == hll.DENSE:
            use_dense = True
        try:
            maximum = np.maximum(maximum, hll.registers_of(value))
        except hll.CorruptedHLL:
            raise CommandError(INVALID_HLL) from None
    target = args[1]
    current = _lookup(db, target)
    new = current is None
    value = hll.created() if current is None else bytearray(current)
    nonzero = np.flatnonzero(maximum)
    db.charge(_sparse_set_work(db, value) * len(nonzero) + DENSE_WORK + string_work(hll.DENSE_SIZE))
    if use_dense and value[4] == hll.SPARSE:
        try:
            value = hll.to_dense(value)
        except hll.CorruptedHLL:
            raise CommandError(INVALID_HLL) from None
    if value[4] == hll.DENSE:
        registers = np.maximum(hll.dense_registers(value), maximum)
        hll.store_dense(value, registers)
    else:
        value = _merge_sparse(value, maximum, nonzero, db.config.hll_sparse_max_bytes)
    hll.invalidate(value)
    _store(db, target, value, new)
    db.notify("$", b"pfadd", target)
    return OK


def _merge_sparse(
    value: bytearray, maximum: np.ndarray, nonzero: np.ndarray, max_bytes: int
) -> bytearray:
    """hllSparseSet of every non-zero register in order, dense from a promotion on."""
    edit = hll.SparseEdit.of(value)
    for position, index in enumerate(nonzero.tolist()):
        try:
            result = edit.set(index, int(maximum[index]), max_bytes)
        except hll.CorruptedHLL:
            continue  # Redis ignores hllSparseSet's failure here
        if result is None:
            registers = _sparse_edit_registers(edit)
            rest = nonzero[position:]
            registers[rest] = np.maximum(registers[rest], maximum[rest])
            return hll.to_dense(value, registers)
    return value[: hll.HEADER] + edit.payload()


# ---------------------------------------------------------------------- PFDEBUG


@command("pfdebug")
def pfdebug(db: Keyspace, args: list[bytes]) -> Reply:
    subcommand, key = args[1], args[2]
    value = _lookup(db, key)
    if value is None:
        raise CommandError(NO_SUCH_KEY)
    name = subcommand.lower()
    db.charge(_read_work(value) + string_work(len(value)))
    if name in (b"getreg", b"todense"):
        converted = value[4] == hll.SPARSE
        if converted:
            try:
                value = hll.to_dense(value)
            except hll.CorruptedHLL:
                raise CommandError(INVALID_HLL) from None
        if converted or type(value) is bytes:
            _store(db, key, bytearray(value), False)
        if name == b"todense":
            return 1 if converted else 0
        db.charge(hll.REGISTERS)
        registers: list[int] = hll.dense_registers(value).tolist()
        return registers
    if type(value) is bytes:
        _store(db, key, bytearray(value), False)
    if name == b"decode":
        if value[4] != hll.SPARSE:
            raise CommandError(NOT_SPARSE)
        return hll.decode_sparse(value)
    if name == b"encoding":
        return Simple(b"dense" if value[4] == hll.DENSE else b"sparse")
    raise CommandError(b"ERR Unknown PFDEBUG subcommand '%s'" % subcommand)


# ---------------------------------------------------------------------- PFSELFTEST

# PFSELFTEST's own checks, smaller than Redis's (a million additions would pass the work
# limit): the dense register packing against one register at a time, and the estimate of
# a growing set against its true size, sparse and dense alike.
SELFTEST_ELEMENTS = 2000
SELFTEST_WORK = 20_000


@command("pfselftest")
def pfselftest(db: Keyspace, args: list[bytes]) -> Reply:
    db.charge(SELFTEST_WORK)
    rng = random.Random(0)
    registers = np.array([rng.randrange(64) for _ in range(hll.REGISTERS)], dtype=np.uint8)
    value = hll.to_dense(hll.created(), np.zeros(hll.REGISTERS, dtype=np.uint8))
    hll.store_dense(value, registers)
    if not np.array_equal(hll.dense_registers(value), registers):
        return _failed(b"Register error")
    for index in (0, 1, 2, 3, hll.REGISTERS - 1):
        bit = index * 6
        word = int.from_bytes(value[hll.HEADER + bit // 8 : hll.HEADER + bit // 8 + 2], "little")
        if (word >> (bit % 8)) & 63 != registers[index]:
            return _failed(b"Register error")
    sparse = hll.SparseEdit.of(hll.created())
    dense = np.zeros(hll.REGISTERS, dtype=np.uint8)
    for n in range(1, SELFTEST_ELEMENTS + 1):
        index, count = hll.pattern(b"%d" % rng.getrandbits(64))
        dense[index] = max(int(dense[index]), count)
        if sparse.set(index, count, max_bytes=1 << 30) is None:
            return _failed(b"Sparse overflow")
        if n % 500 == 0:
            estimate = hll.estimate(hll.histogram_of(dense))
            sparse_estimate = hll.estimate(
                hll.sparse_histogram(bytes(hll.HEADER) + sparse.payload())
            )
            # 1.04/sqrt(16384) standard error: five of them allowed.
            if sparse_estimate != estimate or abs(estimate - n) > n * 0.0406 + 5:
                return _failed(b"Approximation error")
    return OK


def _failed(reason: bytes) -> Reply:
    raise CommandError(b"ERR TESTFAILED " + reason)

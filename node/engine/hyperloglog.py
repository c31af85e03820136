"""Redis 7.0's HyperLogLog representation (hyperloglog.c), byte for byte: a string with
the 16-byte header "HYLL", encoding (0 dense, 1 sparse), three unused bytes and the cached
cardinality (8 bytes little-endian, its top bit set when the cache is invalid), then the
registers, dense (16384 registers of 6 bits, packed from the least significant bit) or
sparse (run-length opcodes ZERO 00xxxxxx, XZERO 01xxxxxx yyyyyyyy, VAL 1vvvvvxx).

A sparse HLL is edited as Redis edits it (the opcode covering a register is split, then
up to five opcodes from the one before it are merged), since the bytes depend on the
order of the changes, not only on the registers. Pure functions of their arguments."""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

HEADER = 16
REGISTERS = 16384
P = 14
Q = 64 - P
DENSE = 0
SPARSE = 1
DENSE_SIZE = HEADER + REGISTERS * 6 // 8
SPARSE_MAX_BYTES = 3000  # hll-sparse-max-bytes, Redis's default
VAL_MAX_VALUE = 32
VAL_MAX_LEN = 4
ZERO_MAX_LEN = 64
XZERO_MAX_LEN = 16384
ALPHA_INF = 0.721347520444481703680  # 1 / (2 ln 2)
MAGIC = b"HYLL"

_M = 0xC6A4A7935BD1E995
_MASK64 = (1 << 64) - 1
SEED = 0xADC83B19


def murmur64a(data: bytes) -> int:
    """MurmurHash64A (little-endian reads), as Redis's with its seed."""
    length = len(data)
    h = (SEED ^ (length * _M)) & _MASK64
    whole = length - (length & 7)
    for offset in range(0, whole, 8):
        k = int.from_bytes(data[offset : offset + 8], "little")
        k = (k * _M) & _MASK64
        k ^= k >> 47
        k = (k * _M) & _MASK64
        h ^= k
        h = (h * _M) & _MASK64
    if length & 7:
        h ^= int.from_bytes(data[whole:], "little")
        h = (h * _M) & _MASK64
    h ^= h >> 47
    h = (h * _M) & _MASK64
    h ^= h >> 47
    return h


def pattern(element: bytes) -> tuple[int, int]:
    """hllPatLen: the register an element addresses and the length of the run of zeros
    (plus one) in the rest of its hash."""
    hashed = murmur64a(element)
    index = hashed & (REGISTERS - 1)
    rest = (hashed >> P) | (1 << Q)
    return index, (rest & -rest).bit_length()


# Elements of one length are hashed together with numpy (its uint64 arithmetic wraps as
# C's does) when there are at least this many of them; fewer, one by one in Python.
_VECTOR_GROUP = 8


def patterns(elements: list[bytes]) -> tuple[list[int], list[int]]:
    """pattern() of every element: (registers, counts), in the elements' order."""
    indexes = [0] * len(elements)
    counts = [0] * len(elements)
    by_length: dict[int, list[int]] = {}
    for position, element in enumerate(elements):
        by_length.setdefault(len(element), []).append(position)
    for length, positions in by_length.items():
        if len(positions) < _VECTOR_GROUP:
            for position in positions:
                indexes[position], counts[position] = pattern(elements[position])
            continue
        group_indexes, group_counts = _patterns_of_length(
            [elements[position] for position in positions], length
        )
        for position, index, count in zip(positions, group_indexes, group_counts):
            indexes[position] = index
            counts[position] = count
    return indexes, counts


def _patterns_of_length(elements: list[bytes], length: int) -> tuple[list[int], list[int]]:
    m = np.uint64(_M)
    r = np.uint64(47)
    data = np.frombuffer(b"".join(elements), dtype=np.uint8).reshape(len(elements), length)
    whole = length - (length & 7)
    h = np.full(len(elements), (SEED ^ (length * _M)) & _MASK64, dtype=np.uint64)
    if whole:
        blocks = np.ascontiguousarray(data[:, :whole]).view("<u8")
        for column in range(blocks.shape[1]):
            k = blocks[:, column] * m
            k ^= k >> r
            k *= m
            h ^= k
            h *= m
    if length & 7:
        tail = np.zeros(len(elements), dtype=np.uint64)
        for offset in range(length & 7):
            tail |= data[:, whole + offset].astype(np.uint64) << np.uint64(8 * offset)
        h ^= tail
        h *= m
    h ^= h >> r
    h *= m
    h ^= h >> r
    index = h & np.uint64(REGISTERS - 1)
    rest = (h >> np.uint64(P)) | np.uint64(1 << Q)
    lowest = rest & (~rest + np.uint64(1))
    count = np.log2(lowest.astype(np.float64)).astype(np.int64) + 1
    return index.tolist(), count.tolist()


# ---------------------------------------------------------------------- the header


def created() -> bytearray:
    """createHLLObject: an empty sparse HLL (one XZERO opcode), cache valid at 0."""
    value = bytearray(HEADER + 2)
    value[:4] = MAGIC
    value[4] = SPARSE
    value[HEADER:] = _xzero(REGISTERS).to_bytes(2, "big")
    return value


def is_hll(value: bytes | bytearray) -> bool:
    """isHLLObjectOrReply's checks of a string value."""
    if len(value) < HEADER or value[:4] != MAGIC or value[4] > SPARSE:
        return False
    return value[4] != DENSE or len(value) == DENSE_SIZE


def invalidate(value: bytearray) -> None:
    value[15] |= 0x80


def cached(value: bytes | bytearray) -> int | None:
    """The cached cardinality, None if invalid."""
    if value[15] & 0x80:
        return None
    return int.from_bytes(value[8:16], "little")


def set_cached(value: bytearray, cardinality: int) -> None:
    value[8:16] = (cardinality & _MASK64).to_bytes(8, "little")


# ---------------------------------------------------------------------- dense


def dense_registers(value: bytes | bytearray) -> np.ndarray:
    """The 16384 registers of a dense HLL, one uint8 each: every 3 bytes hold 4 registers
    (24 bits, the first register in the lowest 6)."""
    packed = np.frombuffer(value, dtype=np.uint8, count=DENSE_SIZE - HEADER, offset=HEADER)
    triples = packed.reshape(REGISTERS // 4, 3).astype(np.uint32)
    word = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
    registers = np.empty((REGISTERS // 4, 4), dtype=np.uint8)
    for slot in range(4):
        registers[:, slot] = (word >> (6 * slot)) & 63
    return registers.reshape(REGISTERS)


def store_dense(value: bytearray, registers: np.ndarray) -> None:
    """Write 16384 registers (each < 64) into a dense HLL."""
    quads = registers.astype(np.uint32).reshape(REGISTERS // 4, 4)
    word = quads[:, 0] | (quads[:, 1] << 6) | (quads[:, 2] << 12) | (quads[:, 3] << 18)
    triples = np.empty((REGISTERS // 4, 3), dtype=np.uint8)
    for byte in range(3):
        triples[:, byte] = (word >> (8 * byte)) & 0xFF
    value[HEADER:DENSE_SIZE] = triples.tobytes()


# ---------------------------------------------------------------------- sparse opcodes
# An opcode is an int: the byte of a ZERO or VAL opcode (< 256), or the two bytes of an
# XZERO opcode read big-endian (0x4000 to 0x7FFF).


def _xzero(length: int) -> int:
    return 0x4000 | (length - 1)


def _zero(length: int) -> int:
    return length - 1


def _val(value: int, length: int) -> int:
    return 0x80 | ((value - 1) << 2) | (length - 1)


def _span(op: int) -> int:
    if op >= 256:
        return (op & 0x3FFF) + 1
    if op & 0x80:
        return (op & 3) + 1
    return (op & 0x3F) + 1


def _is_val(op: int) -> bool:
    return op < 256 and bool(op & 0x80)


def _val_value(op: int) -> int:
    return ((op >> 2) & 0x1F) + 1


class CorruptedHLL(Exception):
    """The sparse opcodes do not describe the 16384 registers (Redis: INVALIDOBJ)."""


def parse_sparse(payload: bytes | bytearray | memoryview) -> list[int]:
    """The opcodes of a sparse payload (the bytes after the header). An XZERO cut off by
    the end reads a zero second byte, as Redis reads the string's terminator."""
    ops: list[int] = []
    index = 0
    length = len(payload)
    while index < length:
        byte = payload[index]
        if byte & 0xC0 == 0x40:
            second = payload[index + 1] if index + 1 < length else 0
            ops.append((byte << 8) | second)
            index += 2
        else:
            ops.append(byte)
            index += 1
    return ops


def serialize_sparse(ops: list[int]) -> bytes:
    out = bytearray()
    for op in ops:
        if op >= 256:
            out += op.to_bytes(2, "big")
        else:
            out.append(op)
    return bytes(out)


@dataclass
class SparseEdit:
    """A sparse HLL being changed register by register as hllSparseSet does: its opcodes,
    the first register each covers, its length in bytes (header included)."""

    ops: list[int]
    firsts: list[int]
    size: int

    @classmethod
    def of(cls, value: bytes | bytearray) -> SparseEdit:
        ops = parse_sparse(memoryview(value)[HEADER:])
        firsts = []
        first = 0
        for op in ops:
            firsts.append(first)
            first += _span(op)
        return cls(ops, firsts, len(value))

    def payload(self) -> bytes:
        """The opcodes' bytes, cut to the length Redis keeps (an XZERO cut off by the
        end of a corrupted value counts one byte there, not two)."""
        return serialize_sparse(self.ops)[: self.size - HEADER]

    def set(self, index: int, count: int, max_bytes: int = SPARSE_MAX_BYTES) -> int | None:
        """hllSparseSet: 1 if the register grew, 0 if not, None when the HLL must become
        dense first (the value does not fit a VAL opcode, or the sparse bytes would pass
        max_bytes). Raises CorruptedHLL when no opcode covers the register."""
        if count > VAL_MAX_VALUE:
            return None
        ops, firsts = self.ops, self.firsts
        position = bisect_right(firsts, index) - 1
        if position < 0:
            raise CorruptedHLL
        op = ops[position]
        first = firsts[position]
        span = _span(op)
        if index > first + span - 1:
            raise CorruptedHLL
        if _is_val(op):
            if _val_value(op) >= count:
                return 0
            if span == 1:
                ops[position] = _val(count, 1)
                self._merge(position)
                return 1
        elif op < 256 and span == 1:
            ops[position] = _val(count, 1)
            self._merge(position)
            return 1
        last = first + span - 1
        sequence: list[int] = []
        lengths: list[int] = []
        if _is_val(op):
            current = _val_value(op)
            if index != first:
                sequence.append(_val(current, index - first))
                lengths.append(index - first)
            sequence.append(_val(count, 1))
            lengths.append(1)
            if index != last:
                sequence.append(_val(current, last - index))
                lengths.append(last - index)
        else:
            if index != first:
                run = index - first
                sequence.append(_xzero(run) if run > ZERO_MAX_LEN else _zero(run))
                lengths.append(run)
            sequence.append(_val(count, 1))
            lengths.append(1)
            if index != last:
                run = last - index
                sequence.append(_xzero(run) if run > ZERO_MAX_LEN else _zero(run))
                lengths.append(run)
        new_bytes = sum(2 if item >= 256 else 1 for item in sequence)
        delta = new_bytes - (2 if op >= 256 else 1)
        if delta > 0 and self.size + delta > max_bytes:
            return None
        starts = []
        start = first
        for run in lengths:
            starts.append(start)
            start += run
        ops[position : position + 1] = sequence
        firsts[position : position + 1] = starts
        self.size += delta
        self._merge(position)
        return 1

    def _merge(self, position: int) -> None:
        """Step 4 of hllSparseSet: from the opcode before the changed one, up to five
        steps, merge adjacent VAL opcodes of one value while their runs fit one."""
        ops, firsts = self.ops, self.firsts
        at = max(position - 1, 0)
        steps = 5
        while at < len(ops) and steps:
            steps -= 1
            op = ops[at]
            if not _is_val(op):
                at += 1
                continue
            if at + 1 < len(ops) and _is_val(ops[at + 1]):
                following = ops[at + 1]
                value = _val_value(op)
                if value == _val_value(following):
                    run = _span(op) + _span(following)
                    if run <= VAL_MAX_LEN:
                        ops[at : at + 2] = [_val(value, run)]
                        del firsts[at + 1]
                        self.size -= 1
                        continue
            at += 1


def sparse_registers(value: bytes | bytearray) -> np.ndarray:
    """The registers of a sparse HLL (hllSparseToDense, hllMerge); CorruptedHLL unless
    its runs add up to exactly 16384 registers (redis-server 7.0.15 refuses a run past the
    last register, whatever its opcode)."""
    ops = parse_sparse(memoryview(value)[HEADER:])
    if sum(map(_span, ops)) != REGISTERS:
        raise CorruptedHLL
    registers = np.zeros(REGISTERS, dtype=np.uint8)
    index = 0
    for op in ops:
        span = _span(op)
        if _is_val(op):
            registers[index : index + span] = _val_value(op)
        index += span
    return registers


def to_dense(value: bytes | bytearray, registers: np.ndarray | None = None) -> bytearray:
    """hllSparseToDense: a dense HLL of the same header (its cache too) and registers."""
    if registers is None:
        registers = sparse_registers(value)
    dense = bytearray(DENSE_SIZE)
    dense[:HEADER] = value[:HEADER]
    dense[4] = DENSE
    store_dense(dense, registers)
    return dense


def registers_of(value: bytes | bytearray) -> np.ndarray:
    """The registers of a valid HLL of either encoding (CorruptedHLL for a sparse one that
    does not cover them all: hllMerge's check)."""
    if value[4] == DENSE:
        return dense_registers(value)
    return sparse_registers(value)


def sparse_histogram(value: bytes | bytearray) -> np.ndarray:
    """hllSparseRegHisto; CorruptedHLL unless the runs add up to 16384 registers."""
    histogram = np.zeros(64, dtype=np.int64)
    index = 0
    for op in parse_sparse(memoryview(value)[HEADER:]):
        span = _span(op)
        index += span
        histogram[_val_value(op) if _is_val(op) else 0] += span
    if index != REGISTERS:
        raise CorruptedHLL
    return histogram


def histogram_of(registers: np.ndarray) -> np.ndarray:
    return np.bincount(registers, minlength=64)[:64].astype(np.int64)


def decode_sparse(value: bytes | bytearray) -> bytes:
    """PFDEBUG DECODE's text of a sparse payload."""
    parts = []
    for op in parse_sparse(memoryview(value)[HEADER:]):
        if op >= 256:
            parts.append(b"Z:%d" % _span(op))
        elif op & 0x80:
            parts.append(b"v:%d,%d" % (_val_value(op), _span(op)))
        else:
            parts.append(b"z:%d" % _span(op))
    return b" ".join(parts)


# ---------------------------------------------------------------------- the estimator


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y = 1.0
    z = x
    while True:
        x *= x
        previous = z
        z += x * y
        y += y
        if previous == z:
            return z


def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y = 1.0
    z = 1 - x
    while True:
        x = math.sqrt(x)
        previous = z
        y *= 0.5
        z -= math.pow(1 - x, 2) * y
        if previous == z:
            return z / 3


def estimate(histogram: np.ndarray) -> int:
    """hllCount's estimate from the register histogram: Ertl's improved estimator
    ("New cardinality estimation algorithms for HyperLogLog sketches"), in Redis's order
    of floating-point operations, rounded half away from zero as llroundl. Redis replies
    its uint64_t result as a signed 64-bit integer: so does this."""
    counts = [int(n) for n in histogram]
    m = float(REGISTERS)
    z = m * _tau((m - counts[Q + 1]) / m)
    for j in range(Q, 0, -1):
        z += counts[j]
        z *= 0.5
    z += m * _sigma(counts[0] / m)
    if z == 0:
        # llroundl of an infinite quotient: x86's "integer indefinite", LLONG_MIN (whose
        # bit 63 then marks the cached cardinality invalid, as on Redis).
        return -(1 << 63)
    result = ALPHA_INF * m * m / z
    if not math.isfinite(result) or result >= 2.0**63:
        return -(1 << 63)
    floor = math.floor(result)
    return int(floor + 1 if result - floor >= 0.5 else floor)

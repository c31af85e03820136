"""LZF as Redis uses it (liblzf 3.6 in lzf_c.c / lzf_d.c, compiled with HLOG 16,
VERY_FAST 1, ULTRA_FAST 0), so that compressed strings are the bytes redis-server writes
for the same input (DUMP payloads compare byte for byte).

`compress` and `decompress` run liblzf itself (the `python-neo-lzf` wheel: the same
algorithm and settings, about 10 ns a byte instead of the pure-Python version's ~800).
That build checks its output buffer less cautiously than Redis's copy: near the limit it
may fit a stream that Redis refuses. `compress` therefore asks it for the stream with room
to spare and replays Redis's own checks on it (`_redis_accepts`).

`compress_reference` and `decompress_reference` are the same steps in pure Python, kept
as the tests' oracle. Redis leaves the hash table uninitialised (INIT_HTAB 0); both start
it empty, which is what an uninitialised table gives unless its garbage happens to point
at matching bytes."""

from __future__ import annotations

import lzf as _liblzf
import numpy as np

_HLOG = 16
_HSIZE = 1 << _HLOG
_MAX_LIT = 1 << 5
_MAX_OFF = 1 << 13
_MAX_REF = (1 << 8) + (1 << 3)
# The most bytes one compressed byte can stand for: a 3-byte back reference copies up to
# _MAX_REF + 2 bytes.
MAX_EXPANSION = (_MAX_REF + 2) // 3 + 1


class LzfError(ValueError):
    """A compressed block that does not decode to the announced length."""


def _slots(data: bytes) -> list[int]:
    """The hash slot of every position that has two bytes after it. Redis's IDX of the
    running 32-bit hash, ((h >> 8) - h * 5) & 0xFFFF, depends on the low 16 bits of h >> 8
    and of h only, that is on the three bytes at the position: computed here for all
    positions at once."""
    if len(data) < 3:
        return []
    view = np.frombuffer(data, dtype=np.uint8).astype(np.int32)
    high = (view[:-2] << 8) | view[1:-1]
    low = (view[1:-1] << 8) | view[2:]
    slots: list[int] = ((high - low * 5) & (_HSIZE - 1)).tolist()
    return slots


def _match_end(data: bytes, ref: int, ip: int, maxlen: int) -> int:
    """Where the match loop of lzf_compress stops (its `len` before `len -= 2`): the first
    offset from 3 on that differs or reaches maxlen, except that with maxlen > 16 its
    unrolled first 16 steps run to offset 19 before looking at maxlen."""
    limit = maxlen + 2  # the bytes left from ip (capped with maxlen): all readable
    first_diff = limit
    offset = 3
    if data[ref + offset : ref + limit] == data[ip + offset : ip + limit]:
        offset = limit  # the whole span matches (long runs): no need to look closer
    while offset < limit:
        step = min(16, limit - offset)
        if data[ref + offset : ref + offset + step] != data[ip + offset : ip + offset + step]:
            while data[ref + offset] == data[ip + offset]:
                offset += 1
            first_diff = offset
            break
        offset += step
    if maxlen > 16:
        if first_diff <= 18:
            return first_diff
        return max(19, min(first_diff, maxlen))
    return max(3, min(first_diff, maxlen))


def _literals(
    out: bytearray, data: bytes, start: int, count: int, op: int, lit: int, out_len: int
) -> tuple[int, int] | None:
    """Copy `count` literal bytes from data[start:] as lzf_compress copies them one at a
    time (a run header every 32 bytes); None where it would find the output full (its
    check before each byte: op only grows, so the last byte's check decides)."""
    if not count:
        return op, lit
    if op + (count - 1) + (lit + count - 1) // _MAX_LIT >= out_len:
        return None
    position = start
    end = start + count
    while position < end:
        take = min(_MAX_LIT - lit, end - position)
        out[op : op + take] = data[position : position + take]
        op += take
        lit += take
        position += take
        if lit == _MAX_LIT:
            out[op - lit - 1] = lit - 1
            lit = 0
            op += 1
    return op, lit


def compress_reference(data: bytes, out_len: int) -> bytes | None:
    """lzf_compress(data, len(data), out, out_len): the compressed bytes, or None when
    they would not fit in `out_len` bytes (Redis then stores the string as it is).
    Literal bytes are copied in runs when the next match (or the end) is found."""
    in_len = len(data)
    if not in_len or out_len <= 0:
        return None
    slots = _slots(data)
    # A slot holds position + 1 (0: empty), so that position 0 is never a reference: the
    # C code refuses ref == in_data as well.
    htab = [0] * _HSIZE
    out = bytearray(out_len + _MAX_LIT + 3)  # past out_len: refused by the checks
    op = 1  # start run
    lit = 0
    ip = 0
    pending = 0  # literal bytes seen but not copied yet, ending at ip
    last = in_len - 2
    while ip < last:
        slot = slots[ip]
        ref = htab[slot] - 1
        htab[slot] = ip + 1
        if not (ref > 0 and ip - ref - 1 < _MAX_OFF and data[ref : ref + 3] == data[ip : ip + 3]):
            ip += 1
            pending += 1
            continue
        done = _literals(out, data, ip - pending, pending, op, lit, out_len)
        if done is None:
            return None
        op, lit = done
        pending = 0
        off = ip - ref - 1
        maxlen = in_len - ip - 2
        if maxlen > _MAX_REF:
            maxlen = _MAX_REF
        if op + 3 + 1 >= out_len and op - (0 if lit else 1) + 3 + 1 >= out_len:
            return None
        out[op - lit - 1] = lit - 1 & 0xFF  # stop run
        if not lit:
            op -= 1  # undo run if length is zero
        length = _match_end(data, ref, ip, maxlen) - 2  # octets - 1
        ip += 1
        if length < 7:
            out[op] = (off >> 8) + (length << 5)
            op += 1
        else:
            out[op] = (off >> 8) + (7 << 5)
            out[op + 1] = length - 7
            op += 2
        out[op] = off & 0xFF
        op += 2  # the reference's last byte, then start run
        lit = 0
        ip += length + 1
        if ip >= last:
            break
        # VERY_FAST: the two positions before the new one go into the table.
        htab[slots[ip - 2]] = ip - 1
        htab[slots[ip - 1]] = ip
    done = _literals(out, data, ip - pending, pending, op, lit, out_len)
    if done is None:
        return None
    op, lit = done
    if op + 3 > out_len:
        return None
    # The last bytes: no check per byte any more (at most 3 can be missing here).
    position = ip
    while position < in_len:
        lit += 1
        out[op] = data[position]
        op += 1
        position += 1
        if lit == _MAX_LIT:
            out[op - lit - 1] = lit - 1
            lit = 0
            op += 1
    out[op - lit - 1] = lit - 1 & 0xFF  # end run
    if not lit:
        op -= 1
    return bytes(out[:op])


def decompress_reference(data: bytes, length: int) -> bytes:
    """lzf_decompress into exactly `length` bytes; LzfError for anything malformed (a
    reference before the start, output longer or shorter than announced)."""
    out = bytearray()
    ip = 0
    end = len(data)
    while ip < end:
        ctrl = data[ip]
        ip += 1
        if ctrl < 32:  # literal run of ctrl + 1 bytes
            count = ctrl + 1
            if ip + count > end or len(out) + count > length:
                raise LzfError("literal run past the end")
            out += data[ip : ip + count]
            ip += count
            continue
        count = ctrl >> 5
        if count == 7:
            if ip >= end:
                raise LzfError("truncated reference")
            count += data[ip]
            ip += 1
        if ip >= end:
            raise LzfError("truncated reference")
        ref = len(out) - ((ctrl & 0x1F) << 8) - 1 - data[ip]
        ip += 1
        count += 2
        if ref < 0 or len(out) + count > length:
            raise LzfError("bad back reference")
        if ref + count <= len(out):
            out += out[ref : ref + count]
        else:  # the copy overlaps what it writes: the bytes from ref repeat
            period = len(out) - ref
            pattern = bytes(out[ref:])
            out += (pattern * (count // period + 1))[:count]
    if len(out) != length:
        raise LzfError("decompressed length differs")
    return bytes(out)


# Room beyond out_len given to liblzf: enough for any stream Redis's checks could accept.
_SPARE = 64


def compress(data: bytes, out_len: int) -> bytes | None:
    """lzf_compress(data, len(data), out, out_len) as Redis's build runs it: the
    compressed bytes, or None when they would not fit in `out_len` bytes (Redis then
    stores the string as it is)."""
    if not data or out_len <= 0:
        return None
    packed: bytes | None = _liblzf.compress(data, out_len + _SPARE)
    if packed is None or len(packed) > out_len:
        return None
    if len(packed) + 4 < out_len:
        return packed  # none of Redis's checks can trip this far from the limit
    return packed if _redis_accepts(packed, len(data), out_len) else None


def _redis_accepts(packed: bytes, in_len: int, out_len: int) -> bool:
    """Whether Redis's lzf_compress, whose steps produce `packed` when given room, keeps
    it with an output buffer of `out_len` bytes. Its checks, in terms of the output:
    before a back reference starting at output position p, p + 4 < out_len; before each
    literal byte of its main loop, that byte's position < out_len (true of every byte of
    a stream no longer than out_len); after the main loop, with op where the next literal
    would go, op + 3 <= out_len. The main loop stops once fewer than three input bytes are
    left; the last ones are copied unchecked."""
    position = 0  # in packed
    consumed = 0  # input bytes the stream so far stands for
    after_reference = 0  # output position just past the last back reference
    consumed_then = 0  # input consumed by then
    end = len(packed)
    while position < end:
        ctrl = packed[position]
        if ctrl < 32:
            position += ctrl + 2
            consumed += ctrl + 1
            continue
        if position + 4 >= out_len:
            return False
        count = (ctrl >> 5) + 2
        if ctrl >> 5 == 7:
            count += packed[position + 1]
            position += 1
        position += 2
        consumed += count
        after_reference = position
        consumed_then = consumed
    # The literals the main loop copied after the last reference (or from the start),
    # each run of 32 followed by the next run's header, after the run header op skips.
    looped = max(0, (in_len - 2) - consumed_then)
    op = after_reference + 1 + looped + looped // _MAX_LIT
    return op + 3 <= out_len


def decompress(data: bytes, length: int) -> bytes:
    """lzf_decompress into exactly `length` bytes; LzfError for anything malformed (a
    reference before the start, output longer or shorter than announced)."""
    if not length:
        if data:
            raise LzfError("decompressed length differs")
        return b""
    try:
        out: bytes | None = _liblzf.decompress(data, length)
    except ValueError as error:
        raise LzfError(str(error)) from None
    if out is None or len(out) != length:
        raise LzfError("decompressed length differs")
    return out

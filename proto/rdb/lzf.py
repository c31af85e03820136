"""LZF as Redis uses it (liblzf 3.6 in lzf_c.c / lzf_d.c, compiled with HLOG 16,
VERY_FAST 1, ULTRA_FAST 0): `compress` follows the same steps, so that its output is the
bytes redis-server writes for the same input (DUMP payloads compare byte for byte).
Redis leaves the hash table uninitialised (INIT_HTAB 0); this one starts empty, which is
what an uninitialised table gives unless its garbage happens to point at matching bytes."""

from __future__ import annotations

_HLOG = 16
_HSIZE = 1 << _HLOG
_MAX_LIT = 1 << 5
_MAX_OFF = 1 << 13
_MAX_REF = (1 << 8) + (1 << 3)
_MASK32 = 0xFFFFFFFF


class LzfError(ValueError):
    """A compressed block that does not decode to the announced length."""


def _idx(hval: int) -> int:
    return ((hval >> (3 * 8 - _HLOG)) - hval * 5) & (_HSIZE - 1)


def compress(data: bytes, out_len: int) -> bytes | None:
    """lzf_compress(data, len(data), out, out_len): the compressed bytes, or None when
    they would not fit in `out_len` bytes (Redis then stores the string as it is)."""
    in_len = len(data)
    if not in_len or out_len <= 0:
        return None
    ip_ = data
    # Slots hold position + 1 (0: empty), so that position 0 is never a reference: the C
    # code refuses ref == in_data as well.
    htab: dict[int, int] = {}
    out = bytearray(out_len + 3)  # writes past out_len are refused by the checks below
    op = 1  # start run
    lit = 0
    ip = 0
    in_end = in_len
    hval = ((ip_[0] << 8) | ip_[1]) if in_len > 1 else 0
    while ip < in_end - 2:
        hval = ((hval << 8) | ip_[ip + 2]) & _MASK32
        slot = _idx(hval)
        ref = htab.get(slot, 0) - 1
        htab[slot] = ip + 1
        off = ip - ref - 1
        if (
            ref > 0
            and 0 <= off < _MAX_OFF
            and ip_[ref + 2] == ip_[ip + 2]
            and ip_[ref] == ip_[ip]
            and ip_[ref + 1] == ip_[ip + 1]
        ):
            length = 2
            maxlen = in_end - ip - length
            maxlen = _MAX_REF if maxlen > _MAX_REF else maxlen
            if op + 3 + 1 >= out_len and op - (0 if lit else 1) + 3 + 1 >= out_len:
                return None
            out[op - lit - 1] = lit - 1 & 0xFF  # stop run
            if not lit:
                op -= 1  # undo run if length is zero
            broke = False
            if maxlen > 16:
                for _ in range(16):
                    length += 1
                    if ip_[ref + length] != ip_[ip + length]:
                        broke = True
                        break
            if not broke:
                while True:
                    length += 1
                    if not (length < maxlen and ip_[ref + length] == ip_[ip + length]):
                        break
            length -= 2  # octets - 1
            ip += 1
            if length < 7:
                out[op] = ((off >> 8) + (length << 5)) & 0xFF
                op += 1
            else:
                out[op] = ((off >> 8) + (7 << 5)) & 0xFF
                out[op + 1] = (length - 7) & 0xFF
                op += 2
            out[op] = off & 0xFF
            op += 2  # the reference's last byte, then start run
            lit = 0
            ip += length + 1
            if ip >= in_end - 2:
                break
            ip -= 2
            hval = (ip_[ip] << 8) | ip_[ip + 1]
            hval = ((hval << 8) | ip_[ip + 2]) & _MASK32
            htab[_idx(hval)] = ip + 1
            ip += 1
            hval = ((hval << 8) | ip_[ip + 2]) & _MASK32
            htab[_idx(hval)] = ip + 1
            ip += 1
        else:
            if op >= out_len:
                return None
            lit += 1
            out[op] = ip_[ip]
            op += 1
            ip += 1
            if lit == _MAX_LIT:
                out[op - lit - 1] = lit - 1
                lit = 0
                op += 1
    if op + 3 > out_len:
        return None
    while ip < in_end:
        lit += 1
        out[op] = ip_[ip]
        op += 1
        ip += 1
        if lit == _MAX_LIT:
            out[op - lit - 1] = lit - 1
            lit = 0
            op += 1
    out[op - lit - 1] = lit - 1 & 0xFF  # end run
    if not lit:
        op -= 1
    return bytes(out[:op])


def decompress(data: bytes, length: int) -> bytes:
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
        for position in range(ref, ref + count):  # the copy may overlap what it writes
            out.append(out[position])
    if len(out) != length:
        raise LzfError("decompressed length differs")
    return bytes(out)

"""Hash slots: CRC16/XMODEM of the key (or of its first non-empty {hash tag}) mod 16384."""

from __future__ import annotations

from binascii import crc_hqx

SLOT_COUNT = 16384


def crc16(data: bytes) -> int:
    """CRC16/XMODEM (polynomial 0x1021, initial value 0), as Redis Cluster uses.

    binascii.crc_hqx is exactly this CRC, computed in C."""
    return crc_hqx(data, 0)


def hash_tag(key: bytes) -> bytes:
    """The part of the key that is hashed: the first non-empty {...}, else the whole key."""
    start = key.find(b"{")
    if start != -1:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


def key_slot(key: bytes) -> int:
    if b"{" not in key:  # most keys: no tag to look for (this runs once per routed command)
        return crc_hqx(key, 0) & (SLOT_COUNT - 1)
    return crc16(hash_tag(key)) & (SLOT_COUNT - 1)

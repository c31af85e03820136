"""Record codec and framing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.raft.types import Entry
from node.storage.records import (
    HEADER_SIZE,
    EntriesRecord,
    FrameStatus,
    RecordFormatError,
    RecordKind,
    decode_payload,
    encode,
    frame,
    read_frame,
    valid_frame_after,
)
from tests.storage.strategies import any_record


@given(any_record())
def test_every_record_round_trips_through_a_frame(record):
    data = b"junk" + encode(record)
    read = read_frame(data, 4)
    assert read.status is FrameStatus.OK and read.payload is not None
    assert read.end == len(data)
    decoded = decode_payload(read.kind, read.payload)
    if isinstance(record, EntriesRecord):
        assert isinstance(decoded, EntriesRecord)
        assert decoded.group == record.group and list(decoded.entries) == list(record.entries)
    else:
        assert decoded == record


@given(any_record(), st.data())
def test_a_frame_cut_anywhere_is_partial(record, data):
    encoded = encode(record)
    cut = data.draw(st.integers(1, len(encoded) - 1))
    assert read_frame(encoded[:cut], 0).status is FrameStatus.PARTIAL


@given(any_record(), st.data())
def test_any_flipped_bit_is_detected(record, data):
    encoded = bytearray(encode(record))
    bit = data.draw(st.integers(0, len(encoded) * 8 - 1))
    encoded[bit // 8] ^= 1 << (bit % 8)
    status = read_frame(bytes(encoded), 0).status
    if bit < HEADER_SIZE * 8:
        # Even a flipped length is caught by the header checksum, never taken for a torn tail.
        assert status is FrameStatus.BAD_HEADER
    else:
        assert status is FrameStatus.BAD_PAYLOAD


def test_entries_must_be_consecutive_and_not_empty():
    with pytest.raises(ValueError, match="consecutive"):
        encode(EntriesRecord(1, [Entry(5, 1), Entry(7, 1)]))
    with pytest.raises(ValueError, match="at least one"):
        encode(EntriesRecord(1, []))


def test_a_checksummed_but_malformed_payload_is_a_format_error():
    for kind in RecordKind:
        read = read_frame(frame(kind, b"\x01\x02\x03"), 0)
        assert read.status is FrameStatus.OK and read.payload is not None
        with pytest.raises(RecordFormatError):
            decode_payload(read.kind, read.payload)
    with pytest.raises(RecordFormatError, match="unknown record kind"):
        decode_payload(99, b"")


def test_a_valid_frame_is_found_after_garbage_and_not_in_zeros():
    record = encode(EntriesRecord(3, [Entry(1, 1, data=b"payload")]))
    assert valid_frame_after(b"\xff" * 30 + record, 0) == 30
    assert valid_frame_after(b"\x00" * 500, 0) is None

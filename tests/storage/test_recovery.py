"""Recovery: a torn tail is cut with a warning; corruption anywhere else stops the node with the
file and byte offset."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.raft.types import Entry, HardState
from node.storage import CorruptionError, EntriesRecord, HardStateRecord, Wal, replay
from node.storage.records import RecordKind, encode, frame
from node.storage.segments import HEADER_SIZE, list_segments, scan_segment
from tests.storage.strategies import any_record
from tests.storage.support import ModelGroup, RecordingSyncer, as_comparable, entries

settings_ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def write_wal(directory: Path, batches: list[list], segment_bytes: int = 1 << 20) -> None:
    wal, _ = Wal.open(directory, segment_bytes=segment_bytes, syncer=RecordingSyncer())
    for batch in batches:
        wal.commit(batch)
    wal.close()


def newest_segment(directory: Path) -> Path:
    return list_segments(directory)[-1][1]


def base_records() -> list:
    return [
        EntriesRecord(1, entries(1, 3, term=1)),
        HardStateRecord(1, HardState(1, 1, 2)),
        EntriesRecord(2, entries(1, 2, term=4)),
    ]


@settings_
@given(last=any_record())
def test_a_tail_torn_at_every_byte_of_the_last_record_is_cut_and_the_rest_survives(last):
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        write_wal(directory, [base_records()])
        expected = as_comparable(replay(directory))
        segment = newest_segment(directory)
        whole = segment.read_bytes()
        record_start = len(whole)
        with segment.open("ab") as file:
            file.write(encode(last))
        full = segment.read_bytes()
        for cut in range(record_start, len(full)):
            segment.write_bytes(full[:cut])
            assert as_comparable(replay(directory)) == expected, f"cut at {cut}"
        # Reopening repairs the file and writing goes on.
        segment.write_bytes(full[: (record_start + len(full)) // 2])
        wal, restored = Wal.open(directory, syncer=RecordingSyncer())
        assert as_comparable(restored) == expected
        assert segment.read_bytes() == whole
        wal.commit([EntriesRecord(1, entries(4, 1, term=1))])
        wal.close()
        assert [e.index for e in replay(directory)[1].entries] == [1, 2, 3, 4]


def test_the_cut_is_logged_as_a_warning(tmp_path, caplog):
    write_wal(tmp_path, [base_records(), [EntriesRecord(1, entries(4, 1, 1))]])
    segment = newest_segment(tmp_path)
    segment.write_bytes(segment.read_bytes()[:-3])
    with caplog.at_level(logging.WARNING, logger="node.storage.recovery"):
        restored = replay(tmp_path)
    assert [e.index for e in restored[1].entries] == [1, 2, 3]
    assert str(segment) in caplog.text and "torn tail" in caplog.text


def test_a_bad_checksum_in_the_very_last_record_is_a_torn_tail(tmp_path):
    write_wal(tmp_path, [base_records(), [EntriesRecord(1, entries(4, 1, 1))]])
    segment = newest_segment(tmp_path)
    data = bytearray(segment.read_bytes())
    data[-1] ^= 0x40
    segment.write_bytes(bytes(data))
    assert [e.index for e in replay(tmp_path)[1].entries] == [1, 2, 3]


def test_zeros_after_the_last_record_are_a_torn_tail(tmp_path):
    write_wal(tmp_path, [base_records()])
    segment = newest_segment(tmp_path)
    expected = as_comparable(replay(tmp_path))
    with segment.open("ab") as file:
        file.write(bytes(4096))
    assert as_comparable(replay(tmp_path)) == expected


def test_a_flipped_bit_in_any_byte_of_a_middle_record_refuses_to_start(tmp_path):
    records = [EntriesRecord(1, [Entry(i, 1, data=b"data %d" % i)]) for i in range(1, 6)]
    write_wal(tmp_path, [records])
    segment = newest_segment(tmp_path)
    pristine = segment.read_bytes()
    frames = [encode(r) for r in records]
    checkpoint_end = len(pristine) - sum(len(f) for f in frames)
    middle_start = checkpoint_end + sum(len(f) for f in frames[:2])
    middle = frames[2]
    for bit in range(len(middle) * 8):
        data = bytearray(pristine)
        data[middle_start + bit // 8] ^= 1 << (bit % 8)
        segment.write_bytes(bytes(data))
        with pytest.raises(CorruptionError) as caught:
            replay(tmp_path)
        assert caught.value.path == segment
        assert caught.value.offset == middle_start, f"bit {bit}"
        assert str(segment) in str(caught.value)
        assert f"byte offset {middle_start}" in str(caught.value)
        with pytest.raises(CorruptionError):
            Wal.open(tmp_path, syncer=RecordingSyncer())
    assert segment.read_bytes() != pristine  # nothing was "repaired" away


def test_a_torn_record_in_an_older_segment_refuses_to_start(tmp_path):
    write_wal(tmp_path, [base_records()])
    write_wal(tmp_path, [[EntriesRecord(1, entries(4, 1, 1))]])
    older = list_segments(tmp_path)[0][1]
    data = older.read_bytes()
    older.write_bytes(data[:-2])
    with pytest.raises(CorruptionError) as caught:
        replay(tmp_path)
    assert caught.value.path == older
    assert "ends inside the record" in str(caught.value)


def test_a_corrupted_header_with_valid_records_after_it_is_not_a_tail(tmp_path):
    write_wal(tmp_path, [base_records()])
    segment = newest_segment(tmp_path)
    data = bytearray(segment.read_bytes())
    data[3] ^= 0x01  # inside the segment header
    segment.write_bytes(bytes(data))
    with pytest.raises(CorruptionError) as caught:
        replay(tmp_path)
    assert caught.value.offset == 0 and "segment header" in caught.value.reason


def test_a_segment_torn_inside_its_header_is_dropped_on_open(tmp_path):
    write_wal(tmp_path, [base_records()])
    expected = as_comparable(replay(tmp_path))
    segment = newest_segment(tmp_path)
    torn = segment.with_name(f"{int(segment.stem) + 1:016d}.wal")
    torn.write_bytes(segment.read_bytes()[: HEADER_SIZE - 5])
    assert as_comparable(replay(tmp_path)) == expected
    wal, restored = Wal.open(tmp_path, syncer=RecordingSyncer())
    wal.close()
    assert as_comparable(restored) == expected
    assert torn.exists() and torn.stat().st_size > HEADER_SIZE  # reused for the new segment


@settings_
@given(st.data())
def test_a_record_that_checks_out_but_cannot_decode_names_its_offset(data):
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        write_wal(directory, [base_records()])
        segment = newest_segment(directory)
        offset = segment.stat().st_size
        kind = data.draw(st.sampled_from(list(RecordKind)))
        with segment.open("ab") as file:
            file.write(frame(kind, b"\x00" * data.draw(st.integers(0, 7))))
        with pytest.raises(CorruptionError) as caught:
            replay(directory)
        assert caught.value.offset == offset and caught.value.path == segment


# ---------------------------------------------------------------------- preallocated space


def test_an_unclosed_segment_is_zero_filled_ahead_and_reads_back_whole(tmp_path, caplog):
    wal, _ = Wal.open(tmp_path, syncer=RecordingSyncer(), preallocate_bytes=64 * 1024)
    wal.commit(base_records())
    segment = newest_segment(tmp_path)
    records_end = scan_segment(int(segment.stem), segment).valid_end
    assert segment.stat().st_size >= records_end + 64 * 1024  # zeros ahead of the records
    with caplog.at_level(logging.WARNING, logger="node.storage.recovery"):
        assert as_comparable(replay(tmp_path)) == as_comparable(
            {1: _group(base_records(), 1), 2: _group(base_records(), 2)}
        )
        reopened, restored = Wal.open(tmp_path, syncer=RecordingSyncer())
    assert caplog.text == ""  # preallocated zeros are not a torn write: nothing to warn of
    assert [e.index for e in restored[1].entries] == [1, 2, 3]
    assert segment.stat().st_size == records_end  # the older segment holds only records
    reopened.close()
    wal.close()


def test_a_record_torn_inside_preallocated_space_is_cut_as_a_torn_tail(tmp_path, caplog):
    wal, _ = Wal.open(tmp_path, syncer=RecordingSyncer(), preallocate_bytes=64 * 1024)
    wal.commit(base_records())
    segment = newest_segment(tmp_path)
    records_end = scan_segment(int(segment.stem), segment).valid_end
    torn = encode(EntriesRecord(1, [Entry(4, 1, data=b"never acknowledged" * 20)]))
    with segment.open("r+b") as file:  # the header and half the payload reached the disk
        file.seek(records_end)
        file.write(torn[: len(torn) // 2])
    with caplog.at_level(logging.WARNING, logger="node.storage.recovery"):
        restored = replay(tmp_path)
    assert [e.index for e in restored[1].entries] == [1, 2, 3]
    assert "torn tail" in caplog.text
    wal.close()


def test_a_zero_filled_hole_before_valid_records_refuses_to_start(tmp_path):
    records = [EntriesRecord(1, [Entry(i, 1, data=b"data %d" % i)]) for i in range(1, 6)]
    write_wal(tmp_path, [records])
    segment = newest_segment(tmp_path)
    data = bytearray(segment.read_bytes())
    middle = len(data) - sum(len(encode(r)) for r in records[2:])
    data[middle : middle + len(encode(records[2]))] = bytes(len(encode(records[2])))
    segment.write_bytes(bytes(data))
    with pytest.raises(CorruptionError) as caught:
        replay(tmp_path)
    assert caught.value.offset == middle


def test_rotation_cuts_the_finished_segment_to_its_records(tmp_path):
    wal, _ = Wal.open(
        tmp_path, segment_bytes=2048, syncer=RecordingSyncer(), preallocate_bytes=8192
    )
    for index in range(1, 61):
        wal.commit([EntriesRecord(1, [Entry(index, 1, data=b"x" * 100)])])
    segments = list_segments(tmp_path)
    assert len(segments) > 3
    for sequence, path in segments[:-1]:
        scanned = scan_segment(sequence, path)
        assert scanned.defect is None and path.stat().st_size == scanned.valid_end
    newest_sequence, newest = segments[-1]
    assert newest.stat().st_size > scan_segment(newest_sequence, newest).valid_end
    wal.close()
    assert [e.index for e in replay(tmp_path)[1].entries] == list(range(1, 61))


def test_a_crash_loses_unsynced_records_written_over_preallocated_zeros(tmp_path):
    syncer = RecordingSyncer()
    wal, _ = Wal.open(tmp_path, syncer=syncer, preallocate_bytes=64 * 1024)
    wal.commit(base_records())
    wal.write([EntriesRecord(1, entries(4, 2, term=1))])  # written, never synced
    syncer.crash(tmp_path)
    assert [e.index for e in replay(tmp_path)[1].entries] == [1, 2, 3]
    wal.close()


def _group(records: list, group: int) -> ModelGroup:
    model = ModelGroup()
    for record in records:
        if record.group == group:
            model.apply(record)
    return model

"""What validating received Raft messages costs next to decoding them (figures printed, not
asserted): `.venv/bin/python -m tests.raft.bench_validate`."""

from __future__ import annotations

import timeit

from node.raft import messages as m
from node.raft.types import Entry
from node.raft.validate import check_batch
from node.raft_wire import add_to_batch, from_wire
from proto import slotraft_pb2 as pb

STAMP = 5 << 32


def main() -> None:
    entries = tuple(Entry(101 + i, 7, data=b"x" * 64) for i in range(64))
    cases: dict[str, list[m.Message]] = {
        "1 AppendEntries of 64 entries": [m.AppendEntries(3, 1, 2, 7, 100, 7, entries, 90, STAMP)],
        "64 heartbeats (64 groups)": [m.Heartbeat(g, 1, 2, 7, 90, STAMP) for g in range(64)],
        "64 append responses": [m.AppendResponse(g, 1, 2, 7, 164, stamp=STAMP) for g in range(64)],
    }
    for name, messages in cases.items():
        batch = pb.RaftBatch(from_node=1)
        for message in messages:
            add_to_batch(batch, message)
        frame = batch.SerializeToString()

        def decode(frame: bytes = frame) -> list[m.Message]:
            return [from_wire(wire) for wire in pb.RaftBatch.FromString(frame).messages]

        decoded = decode()

        def check(decoded: list[m.Message] = decoded) -> None:
            check_batch(decoded, 1, 2)

        runs = 2000
        decode_us = min(timeit.repeat(decode, number=runs, repeat=5)) / runs * 1e6
        check_us = min(timeit.repeat(check, number=runs, repeat=5)) / runs * 1e6
        print(
            f"{name}: decode {decode_us:.1f} µs, check_batch {check_us:.1f} µs "
            f"({100 * check_us / decode_us:.0f}% of decoding)"
        )


if __name__ == "__main__":
    main()

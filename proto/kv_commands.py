"""The commands of a KvRequest: flat `args` with a count per command (proto/slotraft.proto).

A protobuf message per command cost the router about 1.4 µs per command to build and the
node about 1.1 µs to read; two flat repeated fields cost a fraction of that.
"""

from __future__ import annotations

from itertools import chain

from proto import slotraft_pb2 as pb


def set_commands(request: pb.KvRequest, commands: list[list[bytes]]) -> None:
    request.args.extend(chain.from_iterable(commands))
    request.arg_counts.extend(map(len, commands))


def well_formed(request: pb.KvRequest) -> bool:
    """Every command has a name and the counts cover `args` exactly."""
    counts = request.arg_counts
    return sum(counts) == len(request.args) and (not counts or min(counts) > 0)


def commands_of(request: pb.KvRequest) -> list[list[bytes]]:
    """The commands of a well-formed request."""
    args = list(request.args)
    counts = request.arg_counts
    if len(counts) == 1:
        return [args]
    commands = []
    start = 0
    for count in counts:
        end = start + count
        commands.append(args[start:end])
        start = end
    return commands

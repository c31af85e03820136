"""The bank workload's values and programs: a value is b"balance|version", the version
naming the transaction that wrote it ("init" at the start), so the checker can follow each
key's versions."""

from __future__ import annotations

from dataclasses import dataclass

from proto.xshard_messages import Executed, Failed, Value

INITIAL = 100


def encode(balance: int, version: str) -> bytes:
    return f"{balance}|{version}".encode()


def decode(value: Value) -> tuple[int, str]:
    if value is None:
        return 0, "none"
    balance, version = value.decode().split("|", 1)
    return int(balance), version


@dataclass(frozen=True, slots=True)
class Transfer:
    """Move `amount` from the first key to each other key, if the first has enough; every
    key is written (so every participant installs a version)."""

    version: str
    keys: tuple[bytes, ...]
    amount: int


@dataclass(frozen=True, slots=True)
class ReadAll:
    keys: tuple[bytes, ...]


def execute(program: object, inputs: dict[bytes, Value], now: int) -> Executed | Failed:
    """The deterministic executor both the coordinator and the read path run."""
    if isinstance(program, ReadAll):
        return Executed({}, tuple((key, *decode(inputs[key])) for key in program.keys))
    if not isinstance(program, Transfer):
        return Failed("unknown program")
    balances = {key: decode(inputs[key])[0] for key in program.keys}
    source, *targets = program.keys
    total = program.amount * len(targets)
    if balances[source] < total:
        total = 0
    writes: dict[bytes, Value] = {source: encode(balances[source] - total, program.version)}
    for key in targets:
        writes[key] = encode(balances[key] + (total and program.amount), program.version)
    return Executed(writes, total)

"""The committed protobuf stubs match proto/slotraft.proto."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_stubs_are_generated_from_the_schema(tmp_path):
    (tmp_path / "proto").mkdir()
    (tmp_path / "proto" / "slotraft.proto").write_bytes(
        (ROOT / "proto" / "slotraft.proto").read_bytes()
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I.",
            "--python_out=.",
            "--pyi_out=.",
            "--grpc_python_out=.",
            "proto/slotraft.proto",
        ],
        cwd=tmp_path,
        check=True,
    )
    for name in ("slotraft_pb2.py", "slotraft_pb2.pyi", "slotraft_pb2_grpc.py"):
        generated = (tmp_path / "proto" / name).read_text()
        committed = (ROOT / "proto" / name).read_text()
        assert generated == committed, f"proto/{name} is stale: run `make proto`"

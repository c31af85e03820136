"""The committed protobuf stubs match their schemas (proto/slotraft.proto, proto/xshard.proto)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("schema", ["slotraft", "xshard"])
def test_stubs_are_generated_from_the_schema(tmp_path, schema):
    (tmp_path / "proto").mkdir()
    (tmp_path / "proto" / f"{schema}.proto").write_bytes(
        (ROOT / "proto" / f"{schema}.proto").read_bytes()
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
            f"proto/{schema}.proto",
        ],
        cwd=tmp_path,
        check=True,
    )
    for name in (f"{schema}_pb2.py", f"{schema}_pb2.pyi", f"{schema}_pb2_grpc.py"):
        generated = (tmp_path / "proto" / name).read_text()
        committed = (ROOT / "proto" / name).read_text()
        assert generated == committed, f"proto/{name} is stale: run `make proto`"

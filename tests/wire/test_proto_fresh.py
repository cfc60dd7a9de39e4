"""The committed ``*_pb2.py`` modules are exactly what the pinned protoc makes from the .proto files."""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTODIR = ROOT / "easlab" / "wire" / "proto"
PROTO_VENV = ROOT / ".venv-proto"


def _protoc_python() -> Path:
    """The venv of the Makefile's ``proto`` target (grpcio-tools 1.64.1), created if missing."""
    py = PROTO_VENV / "bin" / "python"
    probe = (
        subprocess.run([str(py), "-c", "import grpc_tools"], capture_output=True)
        if py.exists()
        else None
    )
    if probe is None or probe.returncode != 0:
        if not py.exists():
            venv.EnvBuilder(with_pip=True).create(PROTO_VENV)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "grpcio-tools==1.64.1"], check=True)
    return py


def test_generated_modules_are_fresh(tmp_path):
    protos = sorted(PROTODIR.glob("*.proto"))
    assert protos, f"no .proto files in {PROTODIR}"
    proc = subprocess.run(
        [
            str(_protoc_python()),
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTODIR}",
            f"--python_out={tmp_path}",
            *map(str, protos),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    stale = []
    for proto in protos:
        name = proto.stem + "_pb2.py"
        fresh = (tmp_path / name).read_text()
        committed = (PROTODIR / name).read_text() if (PROTODIR / name).exists() else None
        if fresh != committed:
            stale.append(name)
    assert not stale, f"{stale} differ from protoc's output; run `make proto` and commit the result"

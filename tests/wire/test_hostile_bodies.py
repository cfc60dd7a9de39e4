"""Hostile request bodies: every decoder the kernel runs on them answers a WireError.

Found by fuzzing the server-side decoders with mutated bodies; each test here is
one body that did worse than a clear error before its fix.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cramjam
import numpy as np
import pytest

from easlab.wire.base import InconsistentMessage, WireError, varint
from easlab.wire.tf import parse_tf_request
from easlab.wire.torch import TorchRequest, parse_torch_request

ROOT = Path(__file__).resolve().parents[2]

# 9 bytes: a snappy preamble declaring 4 GiB - 1 of output, then junk. The body is no
# PredictRequest, so the decoder tries it as snappy (SPEC §1), whose decompressor
# allocated the declared size first.
SNAPPY_BOMB = bytes.fromhex("ffffffff0f0a1a0801")


def test_a_snappy_preamble_declaring_gigabytes_is_refused_without_allocating_them():
    # Under a 1 GiB address-space limit (a container's memory limit, strict overcommit)
    # the 4 GiB allocation aborted the whole process ("memory allocation of 4294967295
    # bytes failed"): the worker died on a 9-byte body.
    code = textwrap.dedent(
        f"""
        import resource
        from easlab.wire.torch import parse_torch_request
        from easlab.wire.base import WireError
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        try:
            parse_torch_request({SNAPPY_BOMB!r})
        except WireError as exc:
            print("WireError:", exc)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 0, proc.stderr[-500:]
    assert "WireError: body is not a PyTorch PredictRequest" in proc.stdout
    assert "4294967295" in proc.stdout  # the declared size, said in the message


def test_a_snappy_body_still_decodes():
    req = TorchRequest(flag=True)
    req.add_feed(0, np.zeros((64, 64), np.float32))  # compresses well: the ratio is high
    body = req.to_string()
    assert len(body) < 64 * 64 * 4 // 20
    out = parse_torch_request(body)
    assert out.inputs[0].shape == (64, 64)


def test_a_truncated_snappy_body_is_a_wire_error():
    req = TorchRequest(flag=True)
    req.add_feed(0, np.arange(300, dtype=np.float32))
    body = req.to_string()
    assert bytes(cramjam.snappy.decompress_raw(body))  # it is snappy
    with pytest.raises(WireError):
        parse_torch_request(body[: len(body) // 2])


def _repeated_shape_body(fmt: str, times: int) -> bytes:
    """An ArrayProto (DT_FLOAT, no values) whose array_shape field comes ``times`` times,
    each holding one dim 1: protobuf merges them into ``times`` dims."""
    tensor = b"\x08\x01" + b"\x12\x03\x0a\x01\x01" * times
    if fmt == "torch":
        return b"\x0a" + varint(len(tensor)) + tensor
    entry = b"\x0a\x01x\x12" + varint(len(tensor)) + tensor
    return b"\x12" + varint(len(entry)) + entry


@pytest.mark.timeout(30)  # quadratic before: some 60 s for this 1 MB body, hours for 64 MB
@pytest.mark.parametrize(
    "fmt, parse, label",
    [("tf", parse_tf_request, "input 'x'"), ("torch", parse_torch_request, "input 0")],
)
def test_an_array_shape_repeated_200k_times_is_read_in_one_pass(fmt, parse, label):
    # Each array_shape occurrence copied the dims read so far, so a 1 MB body held
    # the instance for a minute before its 400.
    with pytest.raises(InconsistentMessage) as info:
        parse(_repeated_shape_body(fmt, 200_000))
    assert f"{label}: shape [1, 1," in str(info.value)
    assert "(200000 dims)" in str(info.value)

"""The tensor processors' layout caches answer exactly what the full codec answers.

Issue 16: a repeat request is decoded from the request-layout cache, its checks
come from the per-(signature, names, shapes, dtypes) plans, its answer reuses
the last answer's header bytes. For every dtype the TF and Torch formats carry,
a series of same-layout requests, alone and batched, must get the answers a
processor without caches gives, byte for byte; the counters show the caches
were used (counted, not timed).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from easlab.kernel.processors import tensor_codecs
from easlab.kernel.processors.base import ProcessorContext, ProcessorError
from easlab.kernel.processors.signature import TensorSignature, TensorSpec
from easlab.kernel.processors.tensor import TensorProcessor
from easlab.wire import dtypes as d
from easlab.wire.tf import TFRequest
from easlab.wire.torch import TorchRequest

_QUANTIZED = {d.DT_QINT8, d.DT_QUINT8, d.DT_QINT16, d.DT_QUINT16, d.DT_QINT32}
TF_DTYPES = sorted({n for c, (n, _) in d.TF_WIRE.items() if c not in _QUANTIZED} - {"bfloat16"})
TORCH_DTYPES = sorted(
    {n for c, (n, _) in d.TORCH_WIRE.items() if c not in _QUANTIZED} - {"bfloat16"}
)


class Doubler(TensorProcessor):
    """Answers ``x`` as ``y`` and ``x + x`` as ``z`` (one dtype), counting its runs."""

    def __init__(self, fmt: str, dtype: np.dtype, spec_dtype: Any = None) -> None:
        super().__init__(ProcessorContext(service_name="doubler", spec={}))
        self.request_format = fmt
        self.names = ("0", "0", "1") if fmt == "torch" else ("x", "y", "z")
        spec = TensorSpec(self.names[0], (-1, 3), spec_dtype if spec_dtype is not None else dtype)
        self.signatures = {"serving_default": TensorSignature("serving_default", (spec,), ())}
        self.default_signature = "serving_default"
        self.runs: list[int] = []

    def run(self, signature, inputs):
        (arr,) = inputs.values()
        self.runs.append(arr.shape[0])
        twice = arr + arr if arr.dtype.kind not in "Ob" else arr
        return {self.names[1]: arr, self.names[2]: twice}


class _NoCache:
    hits = 0

    def encode(self, arrays, build):
        return b"".join(build())


def uncached(proc: TensorProcessor) -> TensorProcessor:
    """The same processor with the full parsers and encoders only (the answers before)."""
    proc._decoders = dict(tensor_codecs.DECODERS)
    proc._answers = {"tf": _NoCache(), "torch": _NoCache()}
    return proc


def values(dtype: np.dtype, rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype.kind == "O":
        return np.array(
            [[f"s{seed}{i}{j}".encode() for j in range(3)] for i in range(rows)], object
        )
    if dtype.kind == "b":
        return rng.integers(0, 2, (rows, 3)).astype(bool)
    if dtype.kind in "iu":
        # one varint byte each, so that bodies repeat their length (and layout); a
        # value of another varint length makes another layout: the full parser's
        return rng.integers(0, 100, (rows, 3), dtype=dtype)
    if dtype.kind == "c":
        return (rng.standard_normal((rows, 3)) + 1j * rng.standard_normal((rows, 3))).astype(dtype)
    return rng.standard_normal((rows, 3)).astype(dtype)


def body(fmt: str, arr: np.ndarray, fetch: bool = False) -> bytes:
    if fmt == "tf":
        return TFRequest.from_numpy(
            "serving_default", {"x": arr}, ["z"] if fetch else []
        ).to_string()
    return TorchRequest.from_numpy([arr], fetch=[1] if fetch else None).to_string()


def answers_agree(fmt: str, dtype_name: str, spec_dtype: Any = None) -> TensorProcessor:
    dtype = np.dtype(dtype_name)
    cached = Doubler(fmt, dtype, spec_dtype)
    full = uncached(Doubler(fmt, dtype, spec_dtype))
    # the same layout again and again (values differ), then a batch of it, then
    # another layout (fetch) mixed in, then the first again
    bodies = [body(fmt, values(dtype, 1, seed)) for seed in range(6)]
    bodies += [body(fmt, values(dtype, 1, seed), fetch=True) for seed in (9, 10)]
    bodies += [bodies[0], bodies[3]]
    for data in bodies:
        assert cached.process(data) == full.process(data)
    assert cached.process_batch(bodies) == full.process_batch(bodies)
    assert cached.process_batch(bodies[:4]) == full.process_batch(bodies[:4])
    assert cached.runs == full.runs
    return cached


@pytest.mark.parametrize("dtype_name", TF_DTYPES)
def test_tf_answers_with_the_caches_equal_the_full_codec(dtype_name):
    proc = answers_agree("tf", dtype_name)
    if dtype_name != "object":
        assert proc.decode_cache_hits >= 10
    else:
        assert proc.decode_cache_hits == 0  # string tensors always take the full parser
    if dtype_name in ("float32", "float64"):
        assert proc.encode_cache_hits >= 10


@pytest.mark.parametrize("dtype_name", TORCH_DTYPES)
def test_torch_answers_with_the_caches_equal_the_full_codec(dtype_name):
    proc = answers_agree("torch", dtype_name)
    assert (proc.decode_cache_hits >= 10) == (dtype_name != "object")
    if dtype_name in ("float32", "float64"):
        assert proc.encode_cache_hits >= 10


@pytest.mark.parametrize(
    "sent, spec", [("float64", np.float32), ("uint8", np.int32), ("int64", np.int32)]
)
def test_cast_inputs_are_cast_the_same_from_the_check_cache(sent, spec):
    proc = answers_agree("tf", sent, np.dtype(spec))
    assert proc.decode_cache_hits >= 10


def test_out_of_range_values_are_refused_on_every_repeat():
    """The check plan is cached per shape and dtype; the value range is still checked each time."""
    proc = Doubler("tf", np.dtype(np.int64), np.dtype(np.int32))
    ok = body("tf", np.ones((1, 3), np.int64))
    big = body("tf", np.array([[1, 2, 2**40]], np.int64))
    for _ in range(3):
        assert proc.process(ok)[1] == 200
        with pytest.raises(ProcessorError, match="out of range for DT_INT32"):
            proc.process(big)


def test_refusals_are_the_same_with_the_caches():
    cached, full = (
        Doubler("tf", np.dtype(np.float32)),
        uncached(Doubler("tf", np.dtype(np.float32))),
    )
    bad = [
        body("tf", np.zeros((1, 4), np.float32)),
        body("tf", np.zeros((1, 3), np.int32)),
        TFRequest.from_numpy("other", {"x": np.zeros((1, 3), np.float32)}).to_string(),
        TFRequest.from_numpy(None, {"w": np.zeros((1, 3), np.float32)}).to_string(),
        b"\xff\xff",
    ]
    for data in [*bad, *bad]:
        with pytest.raises(ProcessorError) as got:
            cached.process(data)
        with pytest.raises(ProcessorError) as want:
            full.process(data)
        assert (got.value.status, got.value.message) == (want.value.status, want.value.message)
    assert cached.process_batch(bad) == full.process_batch(bad)

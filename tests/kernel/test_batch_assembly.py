"""rpc.batching in the tensor processors: one preallocated batch, answers split back by views.

Issue 16: the batch is built in one buffer (``join_rows``) instead of
``np.concatenate`` of many small arrays. Whatever the dtype the TF and Torch
formats carry, each caller's batched answer must be byte-identical to the answer
of the same request sent alone.
"""

from __future__ import annotations

import numpy as np
import pytest

from easlab.kernel.processors.base import ProcessorContext
from easlab.kernel.processors.tensor import (
    TensorProcessor,
    TensorSignature,
    TensorSpec,
    join_rows,
)
from easlab.wire import dtypes as d
from easlab.wire.tf import TFRequest
from easlab.wire.torch import TorchRequest


class Identity(TensorProcessor):
    """Answers its input ``x`` as output ``y`` and counts the runs (batches) it made."""

    def __init__(self, fmt: str, dtype: np.dtype) -> None:
        super().__init__(ProcessorContext(service_name="identity", spec={}))
        self.request_format = fmt
        name = "0" if fmt == "torch" else "x"
        self.signatures = {
            "serving_default": TensorSignature(
                "serving_default", (TensorSpec(name, (-1, 3), dtype),), ()
            )
        }
        self.default_signature = "serving_default"
        self.runs: list[int] = []

    def run(self, signature, inputs):
        (arr,) = inputs.values()
        self.runs.append(arr.shape[0])
        return {"0" if self.request_format == "torch" else "y": arr}


def _values(dtype: np.dtype, rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype.kind == "O":
        return np.array(
            [[f"r{seed}-{i}-{j}".encode() * (j + 1) for j in range(3)] for i in range(rows)],
            dtype=object,
        )
    if dtype.kind == "b":
        return rng.integers(0, 2, (rows, 3)).astype(bool)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, (rows, 3), dtype=dtype, endpoint=True)
    if dtype.kind == "c":
        return (rng.standard_normal((rows, 3)) + 1j * rng.standard_normal((rows, 3))).astype(dtype)
    return rng.standard_normal((rows, 3)).astype(dtype)


def _cases(wire: dict[int, tuple[str, int]], quantized: set[int]) -> list[tuple[int, str]]:
    out = []
    for code, (name, _) in sorted(wire.items()):
        if code in quantized or name == "bfloat16":  # same numpy dtype as another code
            continue
        out.append((code, name))
    return out


_QUANTIZED = {d.DT_QINT8, d.DT_QUINT8, d.DT_QINT16, d.DT_QUINT16, d.DT_QINT32}
TF_CASES = _cases(d.TF_WIRE, _QUANTIZED)
TORCH_CASES = _cases(d.TORCH_WIRE, _QUANTIZED)


def _request(fmt: str, arr: np.ndarray) -> bytes:
    if fmt == "tf":
        return TFRequest.from_numpy("serving_default", {"x": arr}).to_string()
    return TorchRequest().add_feed(0, arr).to_string()


def _check_batched_equals_alone(fmt: str, dtype_name: str) -> None:
    dtype = np.dtype(dtype_name)
    proc = Identity(fmt, dtype)
    arrays = [_values(dtype, rows, seed) for seed, rows in enumerate((1, 4, 2, 7))]
    bodies = [_request(fmt, arr) for arr in arrays]
    alone = [proc.process(body) for body in bodies]
    assert proc.runs == [1, 4, 2, 7]
    proc.runs.clear()
    batched = proc.process_batch(bodies)
    assert proc.runs == [14]  # one run for the whole batch
    for (body, status), (want, want_status) in zip(batched, alone, strict=True):
        assert status == want_status == 200
        assert body == want  # byte-identical to the unbatched answer


@pytest.mark.parametrize("code, dtype_name", TF_CASES, ids=[n for _, n in TF_CASES])
def test_tf_batched_answers_equal_unbatched_for_every_dtype(code, dtype_name):
    _check_batched_equals_alone("tf", dtype_name)


@pytest.mark.parametrize("code, dtype_name", TORCH_CASES, ids=[n for _, n in TORCH_CASES])
def test_torch_batched_answers_equal_unbatched_for_every_dtype(code, dtype_name):
    _check_batched_equals_alone("torch", dtype_name)


def test_tf_cases_cover_the_dtypes_the_issue_names():
    names = {n for _, n in TF_CASES}
    assert {"float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"} <= names
    assert "object" in names  # DT_STRING


def test_join_rows_is_one_buffer_with_every_request_in_place():
    parts = [np.arange(6, dtype=np.int16).reshape(2, 3) + 10 * i for i in range(3)]
    joined = join_rows(parts, 6)
    np.testing.assert_array_equal(joined, np.concatenate(parts))
    assert joined.dtype == np.int16 and joined.flags.c_contiguous
    assert not any(np.shares_memory(joined, p) for p in parts)


def test_a_request_of_another_shape_is_refused_alone_and_the_rest_still_batch():
    proc = Identity("tf", np.dtype(np.float32))
    good = [np.full((n, 3), n, np.float32) for n in (1, 2)]
    bad = np.zeros((2, 4), np.float32)
    answers = proc.process_batch(
        [_request("tf", good[0]), _request("tf", bad), _request("tf", good[1])]
    )
    assert [s for _, s in answers] == [200, 400, 200]
    assert answers[1][0] == (b"input 'x': expected shape [-1, 3] DT_FLOAT, got [2, 4] DT_FLOAT")
    assert proc.runs == [3]  # the two good requests ran as one batch
    assert answers[0] == proc.process(_request("tf", good[0]))
    assert answers[2] == proc.process(_request("tf", good[1]))

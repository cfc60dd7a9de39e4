"""rpc.batching in the tensor processors: one preallocated batch, answers split back by views.

Issue 16: the batch is built in one buffer (``join_rows``) instead of
``np.concatenate`` of many small arrays. Whatever the dtype the TF and Torch
formats carry, each caller's batched answer must be byte-identical to the answer
of the same request sent alone.
"""

from __future__ import annotations

import numpy as np
import pytest

from easlab.kernel.packed import Packed
from easlab.kernel.processors.base import ProcessorContext
from easlab.kernel.processors.signature import TensorSignature, TensorSpec
from easlab.kernel.processors.tensor import TensorProcessor, join_rows
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


def _tf_body(dims: list[int], count: int) -> bytes:
    """A TF PredictRequest for input ``x`` with any dims, as a foreign client may send."""
    from easlab.wire.proto import tf_predict_pb2

    req = tf_predict_pb2.PredictRequest(signature_name="serving_default")
    req.inputs["x"].dtype = d.DT_FLOAT
    req.inputs["x"].array_shape.dim.extend(dims)
    req.inputs["x"].float_val.extend([1.0] * count)
    return req.SerializeToString()


@pytest.mark.parametrize("dims, count", [([-2, -2], 4), ([0, -5], 0), ([-1, -3], 3)])
@pytest.mark.parametrize("learnt", [False, True], ids=["cold", "layout-learnt"])
def test_negative_dims_get_their_sender_a_400_and_the_rest_of_the_batch_200(dims, count, learnt):
    """``[-2, -2]`` with 4 values passed the count check and np.reshape's
    ValueError failed every caller of the batch."""
    proc = Identity("tf", np.dtype(np.float32))
    good = [_request("tf", np.full((1, 3), i, np.float32)) for i in range(4)]
    if learnt:  # the layout cache and the shortcut know the good bodies' layout
        for body in good:
            proc.process(body)
    alone = [proc.process(body) for body in good]
    proc.runs.clear()
    bodies = [*good[:2], _tf_body(dims, count), *good[2:]]
    statuses, answers = proc.answer_batch(Packed.of(bodies))
    assert statuses == [200, 200, 400, 200, 200]
    got = answers.bodies()
    assert [got[i] for i in (0, 1, 3, 4)] == [body for body, _ in alone]
    assert got[2].startswith(b"cannot parse the tf request")
    assert f"input 'x': dims {dims}: a dimension cannot be negative".encode() in got[2]
    assert proc.runs == [4]  # the valid ones still ran as one batch


def test_a_decoder_that_raises_on_one_body_answers_that_body_alone(capsys):
    """Whatever a decoder raises for one body (here a stand-in bug), the other
    callers of the batch get their answers; the body's sender gets a 400 saying it."""
    proc = Identity("torch", np.dtype(np.float32))
    good = [_request("torch", np.full((1, 3), i, np.float32)) for i in range(3)]
    poison = b"\x0a\x00poison"
    decode = proc.decode

    def buggy(data):
        if data == poison:
            raise IndexError("a decoder bug")
        return decode(data)

    proc.decode = buggy
    for body in good:  # learns the layout: the uniform path is tried first
        proc.process(body)
    statuses, answers = proc.answer_batch(Packed.of([good[0], poison, good[1], good[2]]))
    assert statuses == [200, 400, 200, 200]
    assert answers.bodies()[1] == b"cannot read this request: IndexError: a decoder bug"
    assert answers.bodies()[0] == proc.process(good[0])[0]
    assert "IndexError: a decoder bug" in capsys.readouterr().err  # the traceback, in the log


def test_the_onnx_processor_answers_only_the_bad_body_of_a_batch_400(tmp_path):
    """As it was met: the onnx processor (TF-style bodies), a batch of valid
    callers and one ``[-2, -2]`` body, decoded by the real processor's decoders."""
    pytest.importorskip("onnxruntime")
    from tests.kernel.test_processors_onnx import affine_model, make

    (tmp_path / "affine.onnx").write_bytes(affine_model())
    proc = make(tmp_path)
    good = [
        TFRequest.from_numpy("", {"x": np.full((1, 4), i, np.float32)}).to_string()
        for i in range(3)
    ]
    alone = [proc.process(body) for body in good]  # and the layout is learnt
    bad = _tf_body([-2, -2], 4)
    statuses, answers = proc.answer_batch(Packed.of([good[0], bad, good[1], good[2]]))
    assert statuses == [200, 400, 200, 200]
    got = answers.bodies()
    assert [got[0], got[2], got[3]] == [body for body, _ in alone]
    assert b"input 'x': dims [-2, -2]: a dimension cannot be negative" in got[1]

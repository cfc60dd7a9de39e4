"""A batch of one layout is read into the joined buffer and checked once (issue 16).

When every body of a batch has the layout the request-layout cache learnt (one
client's requests: same signature, inputs, shapes and fetch list), the tensor
processors read the values straight into the joined input, check the joined
request once and encode the answers with the answer cache's headers looked up
once (``TensorProcessor._process_uniform``). Everything here compares that path
with the same requests sent alone and with a processor that has no caches, byte
for byte; the spies count the checks and encodes (counted, not timed), so a
test fails when a uniform batch stops taking the path or a mixed one takes it.
"""

from __future__ import annotations

import numpy as np
import pytest

from easlab.kernel.processors.base import ProcessorError
from easlab.kernel.processors.signature import TensorSignature, TensorSpec
from easlab.wire.tf import TFRequest
from tests.kernel.test_layout_caches import TF_DTYPES, TORCH_DTYPES, Doubler, body, uncached, values


class Counted(Doubler):
    """A Doubler that counts its checks and encodes, and can refuse batches."""

    def __init__(self, *args, refuse_over: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.checks = 0
        self.encodes = 0
        self.refuse_over = refuse_over

    def check(self, sig, request):
        self.checks += 1
        return super().check(sig, request)

    def encode(self, outputs, request):
        self.encodes += 1
        return super().encode(outputs, request)

    def run(self, signature, inputs):
        (arr,) = inputs.values()
        if self.refuse_over is not None and arr.shape[0] > self.refuse_over:
            raise ValueError(f"cannot take {arr.shape[0]} rows")
        return super().run(signature, inputs)


def _same_layout(fmt: str, dtype: np.dtype, rows: int, n: int, fetch: bool = False) -> list[bytes]:
    return [body(fmt, values(dtype, rows, seed), fetch) for seed in range(n)]


@pytest.mark.parametrize("fmt", ["tf", "torch"])
@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("rows", [1, 3])
def test_a_uniform_batch_is_checked_once_and_answers_as_alone(fmt, dtype_name, rows):
    dtype = np.dtype(dtype_name)
    proc = Counted(fmt, dtype)
    bodies = _same_layout(fmt, dtype, rows, 8)
    alone = [proc.process(data) for data in bodies]  # learns the layouts
    proc.runs.clear()
    proc._shortcut = None  # the layout's steps not learnt yet: test_shortcut.py has them
    checks, encodes, hits = proc.checks, proc.encodes, proc.shortcut_hits
    assert proc.process_batch(bodies) == alone
    assert proc.runs == [8 * rows]  # one run
    assert proc.checks - checks == 1  # the joined request, not each of the 8
    assert proc.encodes - encodes == 0  # headers from the answer cache
    # that batch taught the shortcut: the next is neither checked nor encoded
    assert proc.process_batch(bodies) == alone
    assert proc.runs == [8 * rows] * 2
    assert (proc.checks, proc.encodes, proc.shortcut_hits) == (checks + 1, encodes, hits + 8)


@pytest.mark.parametrize("fmt", ["tf", "torch"])
def test_the_first_uniform_batch_learns_the_layout_and_the_next_uses_it(fmt):
    dtype = np.dtype(np.float32)
    proc = Counted(fmt, dtype)
    full = uncached(Doubler(fmt, dtype))
    first = _same_layout(fmt, dtype, 1, 5)
    # the decoder has no layout yet: the general path, one check per request
    assert proc.process_batch(first) == full.process_batch(first)
    assert proc.checks == 5
    again = [body(fmt, values(dtype, 1, seed)) for seed in range(20, 26)]
    assert proc.process_batch(again) == full.process_batch(again)
    assert proc.checks == 6
    assert proc.runs == full.runs == [5, 6]


@pytest.mark.parametrize("dtype_name", TF_DTYPES)
def test_tf_uniform_batches_equal_the_full_codec_for_every_dtype(dtype_name):
    _uniform_equals_full("tf", dtype_name)


@pytest.mark.parametrize("dtype_name", TORCH_DTYPES)
def test_torch_uniform_batches_equal_the_full_codec_for_every_dtype(dtype_name):
    _uniform_equals_full("torch", dtype_name)


def _uniform_equals_full(fmt: str, dtype_name: str) -> None:
    dtype = np.dtype(dtype_name)
    cached, full = Counted(fmt, dtype), uncached(Doubler(fmt, dtype))
    for rows, fetch in ((1, False), (2, False), (1, True)):
        bodies = _same_layout(fmt, dtype, rows, 6, fetch)
        for _ in range(2):  # the second time the layout is known
            assert cached.process_batch(bodies) == full.process_batch(bodies)
    assert cached.runs == full.runs


def test_a_cast_input_is_cast_in_the_joined_buffer():
    proc = Counted("tf", np.dtype(np.float64), np.dtype(np.float32))
    full = uncached(Doubler("tf", np.dtype(np.float64), np.dtype(np.float32)))
    bodies = _same_layout("tf", np.dtype(np.float64), 2, 4)
    proc.process(bodies[0])
    assert proc.process_batch(bodies) == full.process_batch(bodies)
    assert proc.checks == 2  # the one alone, then the joined batch


def test_a_body_of_another_layout_sends_the_batch_down_the_general_path():
    dtype = np.dtype(np.float32)
    proc, full = Counted("tf", dtype), uncached(Doubler("tf", dtype))
    bodies = _same_layout("tf", dtype, 1, 4)
    proc.process(bodies[0])
    mixed = [*bodies[:2], body("tf", values(dtype, 1, 7), fetch=True), *bodies[2:]]
    checks = proc.checks
    assert proc.process_batch(mixed) == full.process_batch(mixed)
    assert proc.checks - checks == 5  # each on its own


def test_a_batch_the_model_refuses_is_answered_request_by_request():
    dtype = np.dtype(np.float32)
    proc = Counted("tf", dtype, refuse_over=1)
    bodies = _same_layout("tf", dtype, 1, 3)
    alone = [proc.process(data) for data in bodies]
    proc.runs.clear()
    assert proc.process_batch(bodies) == alone
    assert proc.runs == [1, 1, 1]  # the joined run raised before counting; then each alone


def test_an_unknown_fetch_name_gets_each_caller_the_message_it_gets_alone():
    dtype = np.dtype(np.float32)
    proc = Counted("tf", dtype)
    bodies = [
        TFRequest.from_numpy("serving_default", {"x": values(dtype, 1, s)}, ["nope"]).to_string()
        for s in range(3)
    ]
    with pytest.raises(ProcessorError) as alone:
        proc.process(bodies[0])
    answers = proc.process_batch(bodies)
    assert answers == [(alone.value.message.encode(), 400)] * 3
    assert b"unknown output 'nope'" in answers[0][0]


def test_a_signature_without_a_free_batch_dimension_runs_each_alone():
    dtype = np.dtype(np.float32)
    proc = Counted("tf", dtype)
    fixed = TensorSpec("x", (1, 3), dtype)
    proc.signatures = {"serving_default": TensorSignature("serving_default", (fixed,), ())}
    bodies = _same_layout("tf", dtype, 1, 4)
    alone = [proc.process(data) for data in bodies]
    proc.runs.clear()
    assert proc.process_batch(bodies) == alone
    assert proc.runs == [1, 1, 1, 1]


def test_outputs_that_are_not_per_row_are_computed_per_request():
    class Summary(Counted):
        def run(self, signature, inputs):
            (arr,) = inputs.values()
            self.runs.append(arr.shape[0])
            return {"y": arr.sum(axis=0, keepdims=True)}  # one row whatever the batch

    proc = Summary("tf", np.dtype(np.float32))
    bodies = _same_layout("tf", np.dtype(np.float32), 1, 3)
    alone = [proc.process(data) for data in bodies]
    proc.runs.clear()
    assert proc.process_batch(bodies) == alone
    assert proc.runs == [3, 1, 1, 1]


def test_a_uniform_batch_of_the_wrong_shape_gets_each_caller_its_own_400():
    dtype = np.dtype(np.float32)
    proc = Counted("tf", dtype)
    bodies = [body("tf", np.zeros((1, 4), np.float32) + s) for s in range(3)]
    with pytest.raises(ProcessorError) as alone:
        proc.process(bodies[0])  # learns the layout, refused
    answers = proc.process_batch(bodies)
    assert answers == [(alone.value.message.encode(), 400)] * 3
    assert b"expected shape [-1, 3] DT_FLOAT, got [1, 4] DT_FLOAT" in answers[0][0]
    assert proc.runs == []

"""The tensor processors' shortcut answers exactly what the general path answers.

Issue 16: once a request of a layout went through the general path, a body of
the same layout is read, run and written in a few steps (``shortcut.py``). It
must never change an answer: for every dtype the TF and Torch formats carry,
alone and batched, with and without a fetch list, and whenever the model does
something the shortcut did not learn (an output of another dtype or shape or
order, an exception, a batch it refuses), the bytes and statuses must be the
ones a processor without any cache gives. The counters show which path ran
(counted, not timed).
"""

from __future__ import annotations

import numpy as np
import pytest

from easlab.kernel.packed import Packed
from easlab.kernel.processors.base import ProcessorError
from tests.kernel.test_layout_caches import (
    TF_DTYPES,
    TORCH_DTYPES,
    Doubler,
    body,
    uncached,
    values,
)

FORMATS = ["tf", "torch"]


class Moody(Doubler):
    """A Doubler whose model can be told to misbehave on its next calls."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.mood = "fine"
        self.checks = 0

    def check(self, sig, request):
        self.checks += 1
        return super().check(sig, request)

    def run(self, signature, inputs):
        outputs = super().run(signature, inputs)
        y, z = self.names[1], self.names[2]
        if self.mood == "raise":
            raise ValueError("the model fell over")
        if self.mood == "float64":
            return {y: outputs[y].astype(np.float64), z: outputs[z].astype(np.float64)}
        if self.mood == "big-endian":
            return {y: outputs[y].astype(">f4"), z: outputs[z].astype(">f4")}
        if self.mood == "transposed":  # same values, not in C order
            return {y: np.asfortranarray(outputs[y]), z: np.asfortranarray(outputs[z])}
        if self.mood == "reordered":
            return {z: outputs[z], y: outputs[y]}
        if self.mood == "extra":
            return {**outputs, "w": outputs[z][:, :1].copy()}
        if self.mood == "scalar":  # a 0-d output: no rows to share out
            return {y: np.array(outputs[y].sum(), outputs[y].dtype), z: outputs[z]}
        if self.mood == "half rows":  # one output row per two input rows
            return {y: outputs[y][::2].copy(), z: outputs[z][::2].copy()}
        if self.mood == "y one row":  # z per row, y not: a batch is not split back
            return {y: outputs[y][:1].copy(), z: outputs[z]}
        if self.mood == "one row":  # not one output row per input row
            return {y: outputs[y][:1].copy(), z: outputs[z][:1].copy()}
        return outputs

    def answer_batch_bytes(self, bodies: list[bytes]) -> tuple[list[int], list[bytes]]:
        statuses, answers = self.answer_batch(Packed.of(bodies))
        return statuses, answers.bodies()


def _pair(fmt: str, dtype: np.dtype = np.dtype(np.float32)) -> tuple[Moody, Moody]:
    return Moody(fmt, dtype), uncached(Moody(fmt, dtype))


def _answers(proc: Moody, data: bytes) -> tuple[bytes, int] | tuple[str, int]:
    try:
        return proc.process(data)
    except ProcessorError as exc:
        return exc.message, exc.status


def _bodies(fmt: str, dtype: np.dtype, rows: int, n: int, fetch: bool = False) -> list[bytes]:
    return [body(fmt, values(dtype, rows, seed), fetch) for seed in range(n)]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("rows", [1, 3])
@pytest.mark.parametrize("fetch", [False, True])
def test_a_learnt_layout_takes_the_shortcut_and_answers_the_same(fmt, dtype_name, rows, fetch):
    dtype = np.dtype(dtype_name)
    proc, full = _pair(fmt, dtype)
    bodies = _bodies(fmt, dtype, rows, 6, fetch)
    for data in bodies:
        assert proc.process(data) == full.process(data)
    # the first two requests take the general path (a layout is learnt when it comes
    # twice in a row), the other four the shortcut
    assert (proc.checks, proc.shortcut_hits) == (2, 4)
    assert proc.process_batch(bodies) == full.process_batch(bodies)
    assert (proc.checks, proc.shortcut_hits) == (2, 10)
    assert proc.runs == full.runs


@pytest.mark.parametrize("dtype_name", TF_DTYPES)
def test_tf_every_dtype_answers_as_the_full_codec(dtype_name):
    _every_dtype("tf", dtype_name)


@pytest.mark.parametrize("dtype_name", TORCH_DTYPES)
def test_torch_every_dtype_answers_as_the_full_codec(dtype_name):
    _every_dtype("torch", dtype_name)


def _every_dtype(fmt: str, dtype_name: str) -> None:
    dtype = np.dtype(dtype_name)
    proc, full = _pair(fmt, dtype)
    for rows, fetch in ((1, False), (2, False), (1, True)):
        bodies = _bodies(fmt, dtype, rows, 5, fetch)
        for data in bodies:
            assert proc.process(data) == full.process(data)
        for _ in range(2):
            assert proc.process_batch(bodies) == full.process_batch(bodies)
    # only fixed-width floats are read by offset; every other dtype takes the general path
    assert (proc.shortcut_hits > 0) == (dtype_name in ("float32", "float64"))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "mood",
    ["float64", "big-endian", "transposed", "reordered", "extra", "one row", "scalar", "raise"],
)
def test_a_model_that_answers_otherwise_is_finished_by_the_general_path(fmt, mood):
    proc, full = _pair(fmt)
    learn, alone, batch, after = (_bodies(fmt, np.dtype(np.float32), 1, 4) for _ in range(4))
    for data in learn:
        assert _answers(proc, data) == _answers(full, data)
    hits = proc.shortcut_hits
    proc.mood = full.mood = mood
    for data in alone:
        assert _answers(proc, data) == _answers(full, data)
    assert proc.process_batch(batch) == full.process_batch(batch)
    # the shortcut read them (its model call is the only one), the general path wrote them
    assert proc.shortcut_hits == hits + len(alone) + len(batch)
    assert proc.runs == full.runs
    proc.mood = full.mood = "fine"
    for data in after:  # and the service answers as before
        assert _answers(proc, data) == _answers(full, data)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_batch_the_model_refuses_is_answered_request_by_request(fmt):
    proc, full = _pair(fmt)
    bodies = _bodies(fmt, np.dtype(np.float32), 1, 5)
    proc.process(bodies[0])
    full.process(bodies[0])
    proc.mood = full.mood = "raise"
    statuses, answers = proc.answer_batch_bytes(bodies)
    assert (statuses, answers) == full.answer_batch_bytes(bodies)
    assert statuses == [400] * 5 and b"the model fell over" in answers[0]


def test_a_cast_input_is_not_learnt():
    # float64 values for a float32 signature: check casts them, so the model does not
    # get the request's own arrays and the shortcut would skip that cast
    proc = Moody("tf", np.dtype(np.float64), np.dtype(np.float32))
    full = uncached(Moody("tf", np.dtype(np.float64), np.dtype(np.float32)))
    bodies = _bodies("tf", np.dtype(np.float64), 2, 4)
    for data in bodies:
        assert proc.process(data) == full.process(data)
    assert proc.process_batch(bodies) == full.process_batch(bodies)
    assert proc.shortcut_hits == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_another_layout_takes_the_general_path_and_is_learnt_in_turn(fmt):
    proc, full = _pair(fmt)
    dtype = np.dtype(np.float32)
    first, second = _bodies(fmt, dtype, 1, 3), _bodies(fmt, dtype, 2, 3)
    for data in [*first, *second, *first]:
        assert proc.process(data) == full.process(data)
    # each change of layout is two general requests, the second teaching the shortcut
    assert proc.checks == 6 and proc.shortcut_hits == 3


def test_a_batch_of_an_unlearnt_size_is_not_read_by_the_shortcut():
    proc, full = _pair("tf")
    bodies = _bodies("tf", np.dtype(np.float32), 1, 4)
    proc.process(bodies[0])
    full.process(bodies[0])
    mixed = [*bodies[:2], body("tf", values(np.dtype(np.float32), 1, 9), fetch=True)]
    hits = proc.shortcut_hits
    assert proc.process_batch(mixed) == full.process_batch(mixed)
    assert proc.shortcut_hits == hits


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "mood", ["big-endian", "transposed", "float64", "extra", "scalar", "half rows"]
)
def test_a_model_that_always_answers_so_answers_the_same(fmt, mood):
    # learnt from such answers in the first place: the wire rewrites big-endian
    # values, so the shortcut must not learn to copy their bytes
    proc, full = _pair(fmt)
    proc.mood = full.mood = mood
    bodies = _bodies(fmt, np.dtype(np.float32), 2, 4)
    for data in bodies:
        assert proc.process(data) == full.process(data)
    for _ in range(2):
        assert proc.process_batch(bodies) == full.process_batch(bodies)
    assert proc.runs == full.runs


@pytest.mark.parametrize("fmt", FORMATS)
def test_layouts_taking_turns_are_not_learnt(fmt):
    # a layout is learnt when it comes twice in a row: learning and forgetting one on
    # every request of two clients taking turns would only add work
    proc, full = _pair(fmt)
    dtype = np.dtype(np.float32)
    one, two = _bodies(fmt, dtype, 1, 3), _bodies(fmt, dtype, 2, 3)
    for a, b in zip(one, two, strict=True):
        assert proc.process(a) == full.process(a)
        assert proc.process(b) == full.process(b)
    assert proc._shortcut is None and proc.shortcut_hits == 0
    assert proc.process(one[0]) == full.process(one[0])
    assert proc.process(one[1]) == full.process(one[1])  # twice in a row: learnt
    assert proc._shortcut is not None


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_batch_whose_unfetched_output_is_not_per_row_runs_each_alone(fmt):
    # the general path splits a joined batch only when every output has a row per
    # input row, fetched or not; the shortcut must not split it on the fetched ones
    proc, full = _pair(fmt)
    proc.mood = full.mood = "y one row"
    bodies = _bodies(fmt, np.dtype(np.float32), 1, 4, fetch=True)
    for data in bodies:
        assert proc.process(data) == full.process(data)
    hits = proc.shortcut_hits
    for _ in range(2):
        assert proc.process_batch(bodies) == full.process_batch(bodies)
    assert proc.runs == full.runs  # the joined call, then each request alone, twice
    assert proc.shortcut_hits == hits + 8

"""The pytorch processor with real TorchScript models written in a tmp dir."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from easlab.kernel.processors.base import (  # noqa: E402
    ProcessorContext,
    ProcessorError,
    share_of_cores,
)
from easlab.kernel.processors.pytorch import PyTorchProcessor  # noqa: E402
from easlab.wire.torch import TorchRequest, TorchResponse  # noqa: E402

# torch 2.x deprecates torch.jit.script/save; EAS models are TorchScript all the same.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CONFIG = {
    "inputs": [{"shape": [-1, 4], "type": "DT_FLOAT"}, {"shape": [-1, 4], "type": "DT_FLOAT"}],
    "outputs": [{"shape": [-1, 4], "type": "DT_FLOAT"}, {"shape": [-1], "type": "DT_FLOAT"}],
}


class TwoInTwoOut(torch.nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor):
        return x * 2 + y, x.sum(dim=1)


class DictInDictOut(torch.nn.Module):
    def forward(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"total": feats["a"] + feats["b"], "first": feats["a"][:, 0]}


def expected(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x * 2 + y, x.sum(axis=1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("torch_model")
    torch.jit.save(torch.jit.script(TwoInTwoOut()), str(d / "model.pt"))
    return d


def make(model_dir, config=None, batching=False) -> PyTorchProcessor:
    ctx = ProcessorContext(
        "t",
        {"processor": "pytorch_cpu_1.6"},
        model_path=model_dir,
        model_entry=model_dir,
        model_config=config,
        batching=batching,
    )
    proc = PyTorchProcessor(ctx)
    proc.initialize()
    return proc


@pytest.fixture(scope="module")
def checked(model_dir) -> PyTorchProcessor:
    return make(model_dir, json.dumps(CONFIG))  # model_config as text, as in service.json


@pytest.fixture(scope="module")
def unchecked(model_dir) -> PyTorchProcessor:
    return make(model_dir)


def call(proc, req: TorchRequest) -> TorchResponse:
    body, status = proc.process(req.to_string())
    assert status == 200
    return TorchResponse(body)


def rejects(proc, data: bytes) -> str:
    with pytest.raises(ProcessorError) as info:
        proc.process(data)
    assert info.value.status == 400
    return info.value.message


X = np.arange(8, dtype=np.float32).reshape(2, 4)
Y = np.ones((2, 4), np.float32)


@pytest.mark.parametrize("which", ["checked", "unchecked"])
def test_outputs_come_back_in_order(request, which):
    proc = request.getfixturevalue(which)
    resp = call(proc, TorchRequest.from_numpy([X, Y]))
    a, b = expected(X, Y)
    np.testing.assert_array_equal(resp[0], a)
    np.testing.assert_array_equal(resp[1], b)


def test_fetch_answers_the_asked_outputs_in_fetch_order(checked):
    resp = call(checked, TorchRequest.from_numpy([X, Y], fetch=[1]))
    assert len(resp) == 1
    np.testing.assert_array_equal(resp[0], X.sum(axis=1))
    assert "unknown output '5'" in rejects(
        checked, TorchRequest.from_numpy([X, Y], fetch=[5]).to_string()
    )


def test_signature_json(checked, unchecked):
    assert checked.signature() == {
        "signature_name": "serving_default",
        "format": "torch",
        "inputs": [
            {"name": "0", "shape": [-1, 4], "type": "DT_FLOAT"},
            {"name": "1", "shape": [-1, 4], "type": "DT_FLOAT"},
        ],
        "outputs": [
            {"name": "0", "shape": [-1, 4], "type": "DT_FLOAT"},
            {"name": "1", "shape": [-1], "type": "DT_FLOAT"},
        ],
    }
    # Without model_config TorchScript tells the input count only.
    assert unchecked.signature()["inputs"] == [
        {"name": "0", "shape": None, "type": None},
        {"name": "1", "shape": None, "type": None},
    ]


def test_signature_mismatches_answer_400_naming_the_input(checked, unchecked):
    bad_shape = TorchRequest.from_numpy([X, np.ones((2, 3), np.float32)]).to_string()
    assert (
        rejects(checked, bad_shape)
        == "input '1': expected shape [-1, 4] DT_FLOAT, got [2, 3] DT_FLOAT"
    )
    bad_dtype = TorchRequest.from_numpy([X.astype(np.int32), Y]).to_string()
    assert (
        rejects(checked, bad_dtype)
        == "input '0': expected shape [-1, 4] DT_FLOAT, got [2, 4] DT_INT32"
    )
    missing = TorchRequest.from_numpy([X]).to_string()
    assert rejects(checked, missing).startswith(
        "missing input '1' (expected shape [-1, 4] DT_FLOAT)"
    )
    assert rejects(unchecked, missing).startswith("missing input '1'")
    extra = TorchRequest.from_numpy([X, Y, Y]).to_string()
    assert rejects(unchecked, extra).startswith("unknown input '2'")


def test_same_kind_dtype_is_cast(checked):
    resp = call(checked, TorchRequest.from_numpy([X.astype(np.float64), Y]))
    np.testing.assert_array_equal(resp[0], expected(X, Y)[0])


def test_bad_bytes_answer_400(checked):
    assert "cannot parse the torch request" in rejects(checked, b"\x0a\xff\xff\xff")


def test_batch_concatenates_and_splits_back(model_dir):
    checked = make(model_dir, json.dumps(CONFIG), batching=True)
    # a call of its own shows the outputs per row (1 row in, 1 out): from then on a
    # batch of another size is joined (test_the_first_batch_of_as_many_rows_...)
    checked.process(TorchRequest.from_numpy([X[:1], X[:1]]).to_string())
    xs = [np.full((n, 4), n, np.float32) for n in (1, 2, 3)]
    bodies = [TorchRequest.from_numpy([x, x]).to_string() for x in xs]
    bodies.insert(1, TorchRequest.from_numpy([X, np.ones((2, 5), np.float32)]).to_string())
    bodies.append(TorchRequest.from_numpy([xs[0], xs[0]], fetch=[1]).to_string())
    calls = []
    run = checked.run
    checked.run = lambda sig, inputs: calls.append(inputs["0"].shape[0]) or run(sig, inputs)
    answers = checked.process_batch(bodies)
    assert calls == [7]  # one run for the 1 + 2 + 3 + 1 good rows
    assert [s for _, s in answers] == [200, 400, 200, 200, 200]
    assert b"input '1': expected shape [-1, 4]" in answers[1][0]
    for x, (body, _) in zip(xs, [answers[0], answers[2], answers[3]], strict=True):
        resp = TorchResponse(body)
        np.testing.assert_array_equal(resp[0], expected(x, x)[0])
        np.testing.assert_array_equal(resp[1], expected(x, x)[1])
    last = TorchResponse(answers[4][0])
    assert len(last) == 1
    np.testing.assert_array_equal(last[0], xs[0].sum(axis=1))


def test_official_client_request_and_response(checked, run_official):
    body = run_official(
        """
        import base64, sys
        from eas_prediction import TorchRequest
        req = TorchRequest()
        req.add_feed(0, [2, 4], TorchRequest.DT_FLOAT, [float(v) for v in range(8)])
        req.add_feed(1, [2, 4], TorchRequest.DT_FLOAT, [1.0] * 8)
        sys.stdout.write(base64.b64encode(req.to_string()).decode())
        """
    )
    answer, status = checked.process(base64.b64decode(body))
    assert status == 200
    out = json.loads(
        run_official(
            """
        import json, sys
        from eas_prediction.torch_request import TorchResponse
        resp = TorchResponse(sys.stdin.buffer.read())
        print(json.dumps([list(resp.get_values(0)), resp.get_tensor_shape(0), list(resp.get_values(1))]))
        """,
            stdin=answer,
        )
    )
    a, b = expected(X, Y)
    assert out == [a.ravel().tolist(), [2, 4], b.tolist()]


def test_dict_models_use_map_inputs_and_map_outputs(tmp_path):
    torch.jit.save(torch.jit.script(DictInDictOut()), str(tmp_path / "dict.pt"))
    proc = make(tmp_path)
    a = np.array([[1.0, 2.0]], np.float32)
    b = np.array([[10.0, 20.0]], np.float32)
    req = TorchRequest.from_numpy([], map_inputs={"a": a, "b": b})
    resp = call(proc, req)
    np.testing.assert_array_equal(resp.get_values_map("total"), [11.0, 22.0])
    np.testing.assert_array_equal(resp.get_values_map("first"), [1.0])


def test_a_file_that_is_not_torchscript_fails_to_load(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"not a model")
    with pytest.raises(RuntimeError, match="cannot load .* as TorchScript"):
        make(tmp_path)


def test_torch_threads_default_to_a_share_of_the_cores_and_a_setting_wins(model_dir):
    import os

    cores = len(os.sched_getaffinity(0))
    before = torch.get_num_threads()

    def threads(**ctx):
        proc = PyTorchProcessor(
            ProcessorContext("t", {"processor": "pytorch_cpu_1.6"}, model_path=model_dir, **ctx)
        )
        proc.initialize()
        return proc.threads

    try:
        chosen = threads(instance_count=2, batching=True)
        assert chosen["intra_op"] == torch.get_num_threads()
        assert (chosen["intra_op"], chosen["why"]) == share_of_cores(cores, 2, 1)
        chosen = threads(instance_count=2, model_threads=3)
        assert chosen["intra_op"] == torch.get_num_threads() == 3
        assert chosen["why"] == "metadata.model_threads"
    finally:
        torch.set_num_threads(before)  # the setter is process-wide


OMP_PROBE = """
import ctypes, os, threading
from easlab.kernel.processors.base import ProcessorContext
from easlab.kernel.processors.pytorch import set_torch_threads

set_torch_threads(ProcessorContext("t", {"processor": "pytorch_cpu_1.6"}, model_threads=1))
maps = open(f"/proc/{os.getpid()}/maps").read().split()
gomp = ctypes.CDLL(sorted({p for p in maps if "libgomp" in p})[0])
seen = []
# a worker thread, before any torch op of its own: the team size OpenMP starts it with
worker = threading.Thread(target=lambda: seen.append(gomp.omp_get_max_threads()))
worker.start()
worker.join()
print(seen[0])
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads libgomp from /proc/self/maps"
)
def test_worker_threads_start_with_the_instances_openmp_team_size():
    # torch.set_num_threads sizes OpenMP for the calling thread only; the instance's
    # worker threads started with one OpenMP thread per core, and on 2 cores some
    # TorchScript ops spun beside the kernel (calls of 4-12 ms, p99 6-10 ms at c=1).
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    probe = subprocess.run(
        [sys.executable, "-c", OMP_PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split()[-1] == "1"


class Doubled(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2


@pytest.mark.parametrize("which", ["two in, a tuple out", "one in, a tensor out"])
@pytest.mark.parametrize("config", [True, False])
def test_the_shortcut_calls_the_module_plainly_and_answers_as_the_full_path(
    tmp_path, monkeypatch, which, config
):
    from easlab.kernel.processors.pytorch import TorchScriptModel
    from tests.kernel.test_layout_caches import uncached

    two = which.startswith("two")
    module = TwoInTwoOut() if two else Doubled()
    torch.jit.save(torch.jit.script(module), str(tmp_path / "model.pt"))
    settings = (CONFIG if two else {"inputs": CONFIG["inputs"][:1]}) if config else None
    proc = make(tmp_path, settings and json.dumps(settings), batching=True)
    full = uncached(make(tmp_path, settings and json.dumps(settings), batching=True))
    rng = np.random.default_rng(5)

    def body() -> bytes:
        arrays = [rng.standard_normal((3, 4)).astype(np.float32) for _ in range(2 if two else 1)]
        return TorchRequest.from_numpy(arrays).to_string()

    # calls of 3 and 6 rows show the outputs per row, so a batch joins through the
    # shortcut (TensorSignature.per_row_seen)
    for p in (proc, full):
        p.process(body())
        p.process_batch([body(), body()])

    for data in (body(), body()):  # the second of a layout teaches the shortcut
        assert proc.process(data) == full.process(data)
    warm = proc.shortcut_hits
    calls = []
    wrapped = TorchScriptModel.__call__
    monkeypatch.setattr(
        TorchScriptModel, "__call__", lambda self, a: calls.append(self) or wrapped(self, a)
    )
    bodies = [body() for _ in range(5)]
    for data in bodies:
        assert proc.process(data) == full.process(data)
    assert proc.model not in calls and full.model in calls
    assert proc.process_batch(bodies) == full.process_batch(bodies)
    # without a signature the requests are not joined (module doc): a batch takes the
    # general path, request by request
    assert proc.shortcut_hits - warm == (10 if config else 5)
    assert (proc.model in calls) == (not config)


def test_a_dict_model_has_no_plain_call(tmp_path):
    torch.jit.save(torch.jit.script(DictInDictOut()), str(tmp_path / "dict.pt"))
    assert make(tmp_path).model.plain_call() is None


class Float8Out(torch.nn.Module):
    def forward(self, x: torch.Tensor):
        return x * 2, x.to(torch.float8_e4m3fn)


def test_an_output_numpy_cannot_hold_is_the_models_500_naming_it(tmp_path):
    # torch's float8 tensors have no numpy dtype: the call answered 400 "the model
    # failed on this request: TypeError: Got unsupported ScalarType", as if the caller
    # had sent something wrong
    torch.jit.save(torch.jit.script(Float8Out()), str(tmp_path / "model.pt"))
    proc = make(tmp_path)
    with pytest.raises(ProcessorError) as caught:
        proc.process(TorchRequest.from_numpy([X]).to_string())
    assert caught.value.status == 500
    message = caught.value.message
    assert message.startswith("output '1' is a torch.float8_e4m3fn tensor (torch.strided)")
    assert "the model failed on this request" not in message and ".float()" in message


def test_an_onnx_file_given_to_pytorch_says_which_processor_serves_it(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"\x08\x08\x12\x07pytorch")
    proc = PyTorchProcessor(
        ProcessorContext("t", {}, model_path=tmp_path, model_entry=tmp_path / "model.onnx")
    )
    with pytest.raises(RuntimeError) as caught:
        proc.initialize()
    message = str(caught.value)
    assert message.startswith(f"cannot load {tmp_path / 'model.onnx'} as TorchScript (")
    assert message.endswith("; model.onnx is named as an ONNX model: serve it with processor onnx")


class WithTable(torch.nn.Module):
    """Rows in, rows out, plus a table of 4 rows whatever the call's rows."""

    def __init__(self):
        super().__init__()
        self.table = torch.arange(8, dtype=torch.float32).reshape(4, 2)

    def forward(self, x: torch.Tensor):
        return x * 2, self.table


def test_an_output_not_one_row_per_input_row_stops_joining(tmp_path, capsys):
    """A TorchScript file does not say which outputs have one row per input row. A
    batch of 4 one-row calls was joined and split back by rows, so each caller got one
    row of the 4-row table (the others' rows missing) instead of the table. The first
    call's answer shows the table is no per-row output: from then on the requests run
    one at a time, and the log says why."""
    torch.jit.save(torch.jit.script(WithTable()), str(tmp_path / "model.pt"))
    config = {"inputs": [{"shape": [-1, 3], "type": "DT_FLOAT"}]}  # outputs not declared
    proc = make(tmp_path, config, batching=True)
    table = np.arange(8, dtype=np.float32).reshape(4, 2)
    rows = [np.full((1, 3), i, np.float32) for i in range(4)]
    first = call(proc, TorchRequest.from_numpy([rows[0]]))
    np.testing.assert_array_equal(first[1], table)
    assert "never joined: output '1' came out with shape [4, 2] for a call of 1 row(s)" in (
        capsys.readouterr().out
    )
    calls = []
    run = proc.run
    proc.run = lambda sig, inputs: calls.append(inputs["0"].shape[0]) or run(sig, inputs)
    answers = proc.process_batch([TorchRequest.from_numpy([x]).to_string() for x in rows])
    assert calls == [1, 1, 1, 1]  # not one call of 4 rows
    for x, (body, status) in zip(rows, answers, strict=True):
        assert status == 200
        np.testing.assert_array_equal(TorchResponse(body)[0], x * 2)
        np.testing.assert_array_equal(TorchResponse(body)[1], table)


def test_batching_that_cannot_join_says_why_at_start(model_dir):
    """rpc.batching on a TorchScript model without declared inputs: the kernel formed
    batches (its metrics counted them) while the model ran each request alone, and
    nothing said so. The instance now tells the kernel why and what to declare (a
    warning of the service: tests/kernel/test_kernel_batching_notes.py)."""
    (note,) = make(model_dir, batching=True).setting_notes()
    assert note.startswith("rpc.batching: requests run one at a time, never joined: input '0'")
    assert 'model_config with -1 first, e.g. {"inputs": [{"shape": [-1, 4]' in note
    assert make(model_dir, batching=False).setting_notes() == []
    assert make(model_dir, json.dumps(CONFIG), batching=True).setting_notes() == []


def test_the_first_batch_of_as_many_rows_as_a_table_is_not_split(tmp_path, capsys):
    """The first requests a TorchScript model got were 4 one-row calls joined into one
    call of 4 rows, whose 4-row table looked like one row per caller: each caller got
    one row of it. Nothing is joined before a call of its own has shown the outputs
    per row, nor into a batch of the only row count seen so far."""
    torch.jit.save(torch.jit.script(WithTable()), str(tmp_path / "model.pt"))
    config = {"inputs": [{"shape": [-1, 3], "type": "DT_FLOAT"}]}  # outputs not declared
    proc = make(tmp_path, config, batching=True)
    table = np.arange(8, dtype=np.float32).reshape(4, 2)
    calls = []
    run = proc.run
    proc.run = lambda sig, inputs: calls.append(inputs["0"].shape[0]) or run(sig, inputs)
    rows = [np.full((1, 3), i, np.float32) for i in range(4)]
    answers = proc.process_batch([TorchRequest.from_numpy([x]).to_string() for x in rows])
    assert calls == [1, 1, 1, 1]
    for x, (body, status) in zip(rows, answers, strict=True):
        assert status == 200
        np.testing.assert_array_equal(TorchResponse(body)[0], x * 2)
        np.testing.assert_array_equal(TorchResponse(body)[1], table)
    assert "never joined: output '1' came out with shape [4, 2]" in capsys.readouterr().out

    # a lone call of the table's own size looks per row: a batch of 4 rows still is not
    proc = make(tmp_path, config, batching=True)
    calls.clear()
    run = proc.run
    proc.run = lambda sig, inputs: calls.append(inputs["0"].shape[0]) or run(sig, inputs)
    call(proc, TorchRequest.from_numpy([np.zeros((4, 3), np.float32)]))
    proc.process_batch([TorchRequest.from_numpy([x]).to_string() for x in rows])
    assert calls == [4, 1, 1, 1, 1]


def test_a_per_row_model_joins_once_a_call_has_shown_it(tmp_path):
    """The other side: a model whose outputs are per row runs the first batch's callers
    alone (one count seen: 1), then joins the next (4 rows: a count not seen), after
    which two counts are known and every batch joins, through the shortcut too."""
    torch.jit.save(torch.jit.script(Doubled()), str(tmp_path / "model.pt"))
    proc = make(tmp_path, {"inputs": [{"shape": [-1, 3], "type": "DT_FLOAT"}]}, batching=True)
    calls = []
    run = proc.run
    proc.run = lambda sig, inputs: calls.append(inputs["0"].shape[0]) or run(sig, inputs)
    rows = [np.full((1, 3), i, np.float32) for i in range(4)]
    for _ in range(3):
        answers = proc.process_batch([TorchRequest.from_numpy([x]).to_string() for x in rows])
        for x, (body, status) in zip(rows, answers, strict=True):
            assert status == 200
            np.testing.assert_array_equal(TorchResponse(body)[0], x * 2)
    assert calls[:5] == [1, 1, 1, 1, 4]
    assert all(n == 4 for n in calls[5:])

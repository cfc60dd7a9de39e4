"""The onnx processor with a real onnxruntime session on a graph built with onnx.helper."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from easlab.kernel.processors.base import (  # noqa: E402
    ProcessorContext,
    ProcessorError,
    share_of_cores,
)
from easlab.kernel.processors.onnx import OnnxModel, OnnxProcessor  # noqa: E402
from easlab.wire.onnx import OnnxRequest, OnnxResponse  # noqa: E402
from easlab.wire.tf import TFRequest, TFResponse  # noqa: E402

W = np.array([[1, 0], [0, 1], [1, 1], [2, -1]], np.float32)
B = np.array([0.5, -0.5], np.float32)


def affine_model() -> bytes:
    """y = x @ W + B and sq = x * x, with a symbolic batch dimension."""
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "B"], ["y"]),
            helper.make_node("Mul", ["x", "x"], ["sq"]),
        ],
        "affine",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2]),
            helper.make_tensor_value_info("sq", TensorProto.FLOAT, ["batch", 4]),
        ],
        initializer=[numpy_helper.from_array(W, "W"), numpy_helper.from_array(B, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx_model")
    (d / "affine.onnx").write_bytes(affine_model())
    return d


def make(model_dir, config=None) -> OnnxProcessor:
    proc = OnnxProcessor(
        ProcessorContext(
            "o",
            {"processor": "onnx"},
            model_path=model_dir,
            model_entry=model_dir,
            model_config=config,
        )
    )
    proc.initialize()
    return proc


@pytest.fixture(scope="module")
def auto(model_dir) -> OnnxProcessor:
    return make(model_dir)


X = np.arange(8, dtype=np.float32).reshape(2, 4)


def rejects(proc, data: bytes) -> str:
    with pytest.raises(ProcessorError) as info:
        proc.process(data)
    assert info.value.status == 400
    return info.value.message


def test_tf_protocol_all_outputs_and_fetch(auto):
    body, status = auto.process(TFRequest.from_numpy("serving_default", {"x": X}).to_string())
    assert status == 200
    resp = TFResponse(body)
    np.testing.assert_allclose(resp["y"], X @ W + B)
    np.testing.assert_array_equal(resp["sq"], X * X)
    body, _ = auto.process(TFRequest.from_numpy("any", {"x": X}, fetch=["sq"]).to_string())
    assert list(TFResponse(body)) == ["sq"]
    assert "unknown output 'nope'" in rejects(
        auto, TFRequest.from_numpy("s", {"x": X}, fetch=["nope"]).to_string()
    )


def test_onnx_protocol_is_detected_and_answered_in_kind(auto):
    body, status = auto.process(OnnxRequest.from_numpy({"x": X}).to_string())
    assert status == 200
    resp = OnnxResponse(body)
    np.testing.assert_allclose(resp["y"], X @ W + B)


def test_protocol_can_be_forced(model_dir):
    onnx_only = make(model_dir, {"protocol": "onnx"})
    assert onnx_only.signature()["format"] == "onnx"
    body, _ = onnx_only.process(OnnxRequest.from_numpy({"x": X}).to_string())
    np.testing.assert_array_equal(OnnxResponse(body)["sq"], X * X)
    tf_only = make(model_dir, '{"protocol": "tf"}')
    # A DataProto is not read as one when the protocol is tf.
    assert "cannot parse the tf request" in rejects(
        tf_only, OnnxRequest.from_numpy({"x": X}).to_string()
    )
    with pytest.raises(RuntimeError, match="protocol 'grpc' is not one of"):
        make(model_dir, {"protocol": "grpc"})


def test_signature_has_symbolic_dims_as_minus_one(auto):
    assert auto.signature() == {
        "signature_name": "serving_default",
        "format": "tf",
        "inputs": [{"name": "x", "shape": [-1, 4], "type": "DT_FLOAT"}],
        "outputs": [
            {"name": "y", "shape": [-1, 2], "type": "DT_FLOAT"},
            {"name": "sq", "shape": [-1, 4], "type": "DT_FLOAT"},
        ],
    }


def test_mismatches_answer_400_naming_the_input(auto):
    def tf(inputs):
        return TFRequest.from_numpy("serving_default", inputs).to_string()

    assert rejects(auto, tf({"x": np.zeros((1, 3), np.float32)})) == (
        "input 'x': expected shape [-1, 4] DT_FLOAT, got [1, 3] DT_FLOAT"
    )
    assert rejects(auto, tf({"x": np.zeros((1, 4), np.int64)})) == (
        "input 'x': expected shape [-1, 4] DT_FLOAT, got [1, 4] DT_INT64"
    )
    assert rejects(auto, tf({"x": X, "z": X})).startswith(
        "unknown input 'z'; signature 'serving_default' takes: x"
    )
    assert rejects(auto, OnnxRequest.from_numpy({"x": np.zeros(4, np.float32)}).to_string()) == (
        "input 'x': expected shape [-1, 4] DT_FLOAT, got [4] DT_FLOAT"
    )
    assert "cannot parse" in rejects(auto, b"\xff\xff\xff\xff")


def test_batch_mixes_protocols_and_splits_back(auto):
    xs = [np.full((n, 4), n, np.float32) for n in (1, 3)]
    answers = auto.process_batch(
        [
            TFRequest.from_numpy("s", {"x": xs[0]}).to_string(),
            OnnxRequest.from_numpy({"x": xs[1]}).to_string(),
            TFRequest.from_numpy("s", {"x": np.zeros((2, 2), np.float32)}).to_string(),
            TFRequest.from_numpy("s", {"x": xs[1]}, fetch=["y"]).to_string(),
        ]
    )
    assert [s for _, s in answers] == [200, 200, 400, 200]
    np.testing.assert_allclose(TFResponse(answers[0][0])["y"], xs[0] @ W + B)
    np.testing.assert_allclose(OnnxResponse(answers[1][0])["y"], xs[1] @ W + B)
    last = TFResponse(answers[3][0])
    assert list(last) == ["y"]
    np.testing.assert_allclose(last["y"], xs[1] @ W + B)


def test_official_tf_and_onnx_requests(auto, run_official):
    bodies = json.loads(
        run_official(
            """
        import base64, json
        import numpy as np
        from eas_prediction import TFRequest
        from eas_prediction.onnx_request import OnnxRequest
        from eas_prediction.onnx_processor_data_helper import from_array
        tf = TFRequest("serving_default")
        tf.add_feed("x", [2, 4], TFRequest.DT_FLOAT, [float(v) for v in range(8)])
        tf.add_fetch("y")
        ox = OnnxRequest()
        ox.add_tensor(from_array(np.arange(8, dtype=np.float32).reshape(2, 4), "x"))
        print(json.dumps([base64.b64encode(r.to_string()).decode() for r in (tf, ox)]))
        """
        )
    )
    tf_body, status = auto.process(base64.b64decode(bodies[0]))
    assert status == 200
    np.testing.assert_allclose(TFResponse(tf_body)["y"], X @ W + B)
    onnx_body, status = auto.process(base64.b64decode(bodies[1]))
    assert status == 200
    out = json.loads(
        run_official(
            """
        import json, sys
        from eas_prediction.onnx_request import OnnxResponse
        from eas_prediction.onnx_processor_data_helper import to_array
        resp = OnnxResponse(sys.stdin.buffer.read())
        print(json.dumps({resp.get_name(i): to_array(resp.response.tensors[i]).tolist()
                          for i in range(resp.get_size())}))
        """,
            stdin=onnx_body,
        )
    )
    np.testing.assert_allclose(out["y"], X @ W + B)
    np.testing.assert_array_equal(out["sq"], X * X)


# -- which error wins when a body is neither format (issue 17, item 6) -------------


def impossible_tf_request(signature_name: str = "serving_default") -> bytes:
    """A TF request for input 'x' whose shape [2**31, 2**31] needs far more than its 4 values."""
    from easlab.wire.proto import tf_predict_pb2

    req = tf_predict_pb2.PredictRequest(signature_name=signature_name)
    x = req.inputs["x"]
    x.dtype = 1  # DT_FLOAT
    x.array_shape.dim.extend([2**31, 2**31])
    x.float_val.extend([1.0, 2.0, 3.0, 4.0])
    return req.SerializeToString()


IMPOSSIBLE = (
    "cannot parse the tf request: TensorFlow PredictRequest is inconsistent: input 'x': "
    "shape [2147483648, 2147483648] needs 4611686018427387904 values, the message carries 4"
)


def test_an_inconsistent_tf_request_is_told_about_its_shape_not_onnx(auto):
    # With a signature name the body is no DataProto (wire type 3); without one it is an
    # empty DataProto. Either way the TF decoder's own message is the answer.
    assert rejects(auto, impossible_tf_request()) == IMPOSSIBLE
    assert rejects(auto, impossible_tf_request("")) == IMPOSSIBLE
    assert auto.process_batch([impossible_tf_request()]) == [(IMPOSSIBLE.encode(), 400)]


def test_an_inconsistent_dataproto_is_told_about_its_dims(auto):
    from easlab.wire.proto import onnx_predict_pb2

    msg = onnx_predict_pb2.DataProto()
    t = msg.tensors.add(name="x", data_type=1, raw_data=np.zeros(4, np.float32).tobytes())
    t.dims.extend([2, 4])
    assert rejects(auto, msg.SerializeToString()) == (
        "cannot parse the onnx request: ONNX request (hie.processor.DataProto) is "
        "inconsistent: tensor 0 'x': dims [2, 4] need 8 values, raw_data holds 4"
    )


def test_a_body_of_no_format_names_each_format_tried(auto):
    message = rejects(auto, b"\xff\xff\xff\xff")
    assert message.startswith("cannot parse the request as any of tf, onnx: as tf: body is not")
    assert "; as onnx: body is not an ONNX request" in message


@pytest.fixture(scope="module")
def onnx_service(kernel, model_dir):
    svc = kernel.create(
        {
            "name": "onnx_which_error",
            "processor": "onnx",
            "model_path": str(model_dir),
            "token": "onnx-which-error-token",
            "metadata": {"instance": 1},
        }
    )
    assert svc.status == "Running", svc.desc.get("message")
    yield svc
    kernel.delete(svc.name)


def test_served_onnx_answers_the_tf_decoders_message(onnx_service):
    import requests

    headers = {"Authorization": "onnx-which-error-token"}
    resp = requests.post(
        onnx_service.url, data=impossible_tf_request(), headers=headers, timeout=30
    )
    assert resp.status_code == 400
    assert resp.text == IMPOSSIBLE
    ok = TFRequest.from_numpy("serving_default", {"x": X}).to_string()
    resp = requests.post(onnx_service.url, data=ok, headers=headers, timeout=30)
    assert resp.status_code == 200
    np.testing.assert_allclose(TFResponse(resp.content)["y"], X @ W + B)


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


def test_session_threads_default_to_a_share_of_the_cores_and_a_setting_wins(model_dir):
    def session_threads(**ctx):
        proc = OnnxProcessor(
            ProcessorContext("o", {"processor": "onnx"}, model_path=model_dir, **ctx)
        )
        proc.initialize()
        options = proc.model.session.get_session_options()
        return proc.threads, options.intra_op_num_threads, options.inter_op_num_threads

    threads, intra, inter = session_threads(instance_count=2)
    assert (intra, threads["why"]) == share_of_cores(_cores(), 2, 5)  # 5 worker threads
    assert intra == threads["intra_op"]
    assert inter == 1
    threads, intra, _ = session_threads(instance_count=2, batching=True)
    assert (intra, threads["why"]) == share_of_cores(_cores(), 2, 1)  # one batch at a time
    threads, intra, _ = session_threads(instance_count=2, model_threads=3)
    assert intra == threads["intra_op"] == 3
    assert threads["why"] == "metadata.model_threads"


def test_two_served_instances_report_the_threads_they_chose(kernel, model_dir):
    svc = kernel.create(
        {
            "name": "onnx_threads",
            "processor": "onnx",
            "model_path": str(model_dir),
            "token": "onnx-threads-token",
            "metadata": {"instance": 2},
        }
    )
    try:
        assert svc.status == "Running", svc.desc.get("message")
        workers = kernel.client.workers("onnx_threads")
        assert len(workers) == 2
        for worker in workers:
            assert worker["threads"]["runtime"] == "onnxruntime"
            assert worker["threads"]["intra_op"] == share_of_cores(_cores(), 2, 5)[0]
            assert "/ 5 calls at once" in worker["threads"]["why"]
        logs = "\n".join(kernel.client.logs("onnx_threads", 200))
        assert logs.count("onnxruntime: ") == 2 and "intra-op thread(s)" in logs
        # with batching an instance runs one batch at a time: the share is not split
        kernel.client.modify("onnx_threads", {"metadata.rpc.batching": "true"})
        for worker in kernel.client.workers("onnx_threads"):
            assert (worker["threads"]["intra_op"], worker["threads"]["why"]) == share_of_cores(
                _cores(), 2, 1
            )
    finally:
        kernel.delete("onnx_threads")
    svc = kernel.create(
        {
            "name": "onnx_threads_set",
            "processor": "onnx",
            "model_path": str(model_dir),
            "token": "onnx-threads-token",
            "metadata": {"instance": 2, "model_threads": 3},
        }
    )
    try:
        assert svc.status == "Running", svc.desc.get("message")
        workers = kernel.client.workers("onnx_threads_set")
        assert [w["threads"]["intra_op"] for w in workers] == [3, 3]
        assert {w["threads"]["why"] for w in workers} == {"metadata.model_threads"}
        # threads are chosen at an instance's start: a modify restarts the instances
        kernel.client.modify("onnx_threads_set", {"metadata.model_threads": "1"})
        workers = kernel.client.workers("onnx_threads_set")
        assert [w["threads"]["intra_op"] for w in workers] == [1, 1]
    finally:
        kernel.delete("onnx_threads_set")


def test_the_default_share_of_the_cores_on_a_many_core_machine():
    # the lent 16-core machine (benchmarks/FINDINGS.md): 15 threads lost to 1 everywhere
    assert share_of_cores(16, 1, 1) == (
        4,
        "(16 cores - 1 for the kernel) / 1 instance(s), at most 4 unless "
        "metadata.model_threads says more",
    )
    assert share_of_cores(16, 1, 5)[0] == 3  # 5 worker threads, no batching: 15 // 5
    assert share_of_cores(16, 2, 1)[0] == 4  # 7 each, capped
    assert share_of_cores(16, 4, 1)[0] == 3
    assert share_of_cores(16, 1, 1, cpu=2) == (
        2,
        "(16 cores - 1 for the kernel) / 1 instance(s), at most 4 unless "
        "metadata.model_threads says more, capped by metadata.cpu=2",
    )
    assert share_of_cores(2, 1, 5) == (
        1,
        "(2 cores - 1 for the kernel) / 1 instance(s) / 5 calls at once "
        "(worker_threads, no batching)",
    )
    assert share_of_cores(64, 16, 8)[0] == 1  # never 0


def _tf(x: np.ndarray, fetch: list[str] | None = None) -> bytes:
    return TFRequest.from_numpy("serving_default", {"x": x}, fetch or []).to_string()


@pytest.mark.parametrize("fetch", [None, ["sq"]])
def test_the_shortcut_calls_the_session_plainly_and_answers_as_the_full_path(
    model_dir, monkeypatch, fetch
):
    from tests.kernel.test_layout_caches import uncached

    proc, full = make(model_dir), uncached(make(model_dir))
    rng = np.random.default_rng(3)
    bodies = [_tf(rng.standard_normal((2, 4)).astype(np.float32), fetch) for _ in range(6)]
    for data in bodies[:2]:  # the second of a layout teaches the shortcut
        assert proc.process(data) == full.process(data)
    # from now on the session's own call: OnnxModel.__call__ is not in the way
    calls = []
    wrapped = OnnxModel.__call__
    monkeypatch.setattr(
        OnnxModel, "__call__", lambda self, i: calls.append(self) or wrapped(self, i)
    )
    for data in bodies[2:]:
        assert proc.process(data) == full.process(data)
    assert proc.process_batch(bodies) == full.process_batch(bodies)
    assert proc.shortcut_hits == 4 + 6
    assert proc.model not in calls and full.model in calls


def test_the_plain_call_is_for_sessions_of_numeric_tensors_only(model_dir, tmp_path):
    assert make(model_dir).model.plain_call() is not None
    graph = helper.make_graph(
        [helper.make_node("Identity", ["s"], ["t"])],
        "strings",
        [helper.make_tensor_value_info("s", TensorProto.STRING, ["batch"])],
        [helper.make_tensor_value_info("t", TensorProto.STRING, ["batch"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    (tmp_path / "strings.onnx").write_bytes(model.SerializeToString())
    proc = make(tmp_path)
    assert proc.model.plain_call() is None
    # and its string requests are answered by the full path, as always
    request = TFRequest.from_numpy("serving_default", {"s": np.array([b"a", b"bc"], object)})
    answer = TFResponse(proc.process(request.to_string())[0])
    assert list(answer["t"]) == [b"a", b"bc"]


@pytest.mark.parametrize("kind", ["input", "output"])
def test_a_bfloat16_graph_tensor_fails_the_create_naming_it(tmp_path, kind):
    # onnxruntime's Python API has no numpy type for bfloat16: such a model loaded and
    # then failed every request with a 400 blaming the caller ("No corresponding Numpy
    # type for Tensor Type. bfloat16")
    x_type = TensorProto.BFLOAT16 if kind == "input" else TensorProto.FLOAT
    y_type = TensorProto.FLOAT if kind == "input" else TensorProto.BFLOAT16
    graph = helper.make_graph(
        [helper.make_node("Cast", ["x"], ["y"], to=y_type)],
        "bf16",
        [helper.make_tensor_value_info("x", x_type, ["batch"])],
        [helper.make_tensor_value_info("y", y_type, ["batch"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    (tmp_path / "bf16.onnx").write_bytes(model.SerializeToString())
    with pytest.raises(RuntimeError) as caught:
        make(tmp_path)
    message = str(caught.value)
    name = "x" if kind == "input" else "y"
    assert f"graph {kind} {name!r} is a tensor(bfloat16)" in message
    assert "bf16.onnx" in message and "float32" in message


@pytest.mark.filterwarnings(
    "ignore::DeprecationWarning"
)  # torch.jit's, as in test_processors_pytorch
def test_a_torchscript_file_given_to_onnx_says_which_processor_serves_it(tmp_path):
    # model_entry names the file whatever its suffix: a TorchScript (zip) file got
    # "Protobuf parsing failed" and no word of what it was
    import torch  # torch==2.13.0 is in the test venv: no skip

    module = torch.jit.script(torch.nn.Linear(2, 1))
    torch.jit.save(module, str(tmp_path / "model.pt"))
    proc = OnnxProcessor(
        ProcessorContext(
            "o", {}, model_path=tmp_path, model_entry=tmp_path / "model.pt", model_threads=1
        )
    )
    with pytest.raises(RuntimeError) as caught:
        proc.initialize()
    message = str(caught.value)
    assert "onnxruntime cannot load" in message
    assert message.endswith(
        "; model.pt is a zip archive, as torch.jit.save writes (a TorchScript model): "
        "serve it with processor pytorch_cpu_1.6 (or pytorch_gpu_*)"
    )


def test_an_empty_onnx_file_says_it_is_empty(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"")
    with pytest.raises(RuntimeError, match="model.onnx is empty"):
        make(tmp_path)


@pytest.mark.parametrize("unsigned", [TensorProto.UINT32, TensorProto.UINT64])
def test_an_unsigned_input_no_wire_carries_takes_signed_integers_that_fit(tmp_path, unsigned):
    # No tensor wire format carries uint32 or uint64 (the client refuses them), and the
    # int64 a caller can send was refused ("expected ... numpy uint32, got ... DT_INT64"):
    # such a model could not be served at all
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "unsigned",
        [helper.make_tensor_value_info("x", unsigned, ["batch", 3])],
        [helper.make_tensor_value_info("y", unsigned, ["batch", 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    (tmp_path / "unsigned.onnx").write_bytes(model.SerializeToString())
    proc = make(tmp_path)
    for dtype in (np.int64, np.int32):
        x = np.array([[1, 2, 3], [4, 5, 6]], dtype)
        body = TFRequest.from_numpy("serving_default", {"x": x}).to_string()
        assert TFResponse(proc.process(body)[0])["y"].tolist() == x.tolist()
    negative = TFRequest.from_numpy("serving_default", {"x": np.array([[1, -2, 3]])})
    message = rejects(proc, negative.to_string())
    assert message.startswith("input 'x': values out of range for numpy uint") and "-2" in message
    floats = TFRequest.from_numpy("serving_default", {"x": np.ones((1, 3), np.float32)})
    assert rejects(proc, floats.to_string()).endswith(": send DT_INT64 values that fit")


def nonzero_model() -> bytes:
    """d = 2x per row, and nz = the [2, n] indices of x's nonzero values (not per row)."""
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["x", "x"], ["d"]),
            helper.make_node("NonZero", ["x"], ["nz"]),
        ],
        "nonzero",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [
            helper.make_tensor_value_info("d", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("nz", TensorProto.INT64, [2, "n"]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


@pytest.mark.parametrize("layout_learnt", [False, True])
def test_a_batch_of_as_many_rows_as_an_outputs_fixed_dim_is_not_split_by_rows(
    tmp_path, layout_learnt
):
    # Two callers of one row joined: NonZero's [2, n] output has 2 rows, as many as the
    # batch, and was split "by rows": each caller got half of the joined indices, one
    # computed from the other caller's input, where alone it gets its own [2, k]
    (tmp_path / "nonzero.onnx").write_bytes(nonzero_model())
    proc = make(tmp_path)
    bodies = [
        TFRequest.from_numpy("serving_default", {"x": np.array([x], np.float32)}).to_string()
        for x in ([1, 0, 3], [0, 5, 0])
    ]
    if layout_learnt:  # the uniform batch path reads the bodies by the learnt layout
        proc.process(bodies[0])
        proc.process(bodies[0])
    alone = [proc.process(body) for body in bodies]
    assert proc.process_batch(bodies) == alone
    assert TFResponse(alone[1][0])["nz"].tolist() == [[0], [1]]


def nonzero_rows_model(nz_dim: str | None = "n", d_dim: str = "batch") -> bytes:
    """d = 2x per row (its first dimension named ``d_dim``), and nzt = the (row, column)
    of each nonzero value of x, ``[nz_dim, 2]``: a free first dimension that is not the
    batch's, as torch's ``x.nonzero()`` exports."""
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["x", "x"], ["d"]),
            helper.make_node("NonZero", ["x"], ["nz"]),
            helper.make_node("Transpose", ["nz"], ["nzt"], perm=[1, 0]),
        ],
        "nonzero_rows",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [
            helper.make_tensor_value_info("d", TensorProto.FLOAT, [d_dim, 3]),
            helper.make_tensor_value_info("nzt", TensorProto.INT64, [nz_dim, 2]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


@pytest.mark.parametrize("layout_learnt", [False, True])
@pytest.mark.parametrize("nz_dim", ["n", None])
def test_a_free_first_dimension_that_is_not_the_batchs_is_never_split_by_rows(
    tmp_path, layout_learnt, nz_dim
):
    """Two callers of one row each, joined: x's nonzero values are 2, as many as the
    batch's rows, so nzt's [2, 2] looked like one row per caller and was split so:
    the second caller got [[1, 1]] (its value's row in the joined batch), where alone
    it gets [[0, 1]]. Now such an output keeps requests from being joined at all."""
    (tmp_path / "nonzero_rows.onnx").write_bytes(nonzero_rows_model(nz_dim))
    proc = make(tmp_path)
    bodies = [
        TFRequest.from_numpy("serving_default", {"x": np.array([x], np.float32)}).to_string()
        for x in ([1, 0, 0], [0, 5, 0])
    ]
    if layout_learnt:  # the uniform batch path reads the bodies by the learnt layout
        proc.process(bodies[0])
        proc.process(bodies[0])
    alone = [proc.process(body) for body in bodies]
    assert TFResponse(alone[1][0])["nzt"].tolist() == [[0, 1]]
    batched = proc.process_batch(bodies)
    assert [TFResponse(body)["nzt"].tolist() for body, _ in batched] == [[[0, 0]], [[0, 1]]]
    assert batched == alone
    sig = proc.signatures["serving_default"]
    assert list(sig.not_per_row) == ["nzt"] and not sig.batchable
    assert "not the inputs' batch dimension ('batch')" in sig.not_per_row["nzt"]
    assert "its length can come from the values of op 'NonZero'" in sig.not_per_row["nzt"]


def test_a_per_row_output_named_otherwise_than_the_input_is_still_batched(tmp_path):
    """torch's dynamic_axes given as lists names each tensor's batch dimension on its
    own ("d_dynamic_axes_1"): shape inference at two batch sizes shows it is the
    batch's, so batching stays on for it (only outputs like nzt turn it off)."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["d"])],
        "renamed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["x_dynamic_axes_1", 3])],
        [helper.make_tensor_value_info("d", TensorProto.FLOAT, ["d_dynamic_axes_1", 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    (tmp_path / "renamed.onnx").write_bytes(model.SerializeToString())
    proc = make(tmp_path)
    sig = proc.signatures["serving_default"]
    assert sig.batchable
    xs = [np.array([[1, 2, 3]], np.float32), np.array([[4, 5, 6], [7, 8, 9]], np.float32)]
    bodies = [TFRequest.from_numpy("serving_default", {"x": x}).to_string() for x in xs]
    answers = proc.process_batch(bodies)
    for (body, status), x in zip(answers, xs, strict=True):
        assert status == 200 and TFResponse(body)["d"].tolist() == (2 * x).tolist()


# the legacy exporter (dynamo=False) names the dims as torch 2.x users' models have them;
# it warns that it is deprecated and that it made the names up, which is the case tested
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_a_torch_export_batches_by_its_per_row_outputs_only(tmp_path):
    """torch 2.x's exporter with dynamic_axes as lists: y's batch dimension is named
    "y_dynamic_axes_1" (shape inference shows it follows x's), x.nonzero()'s first
    "Transposenz_dim_0" (it does not): requests of this model are not joined, as two
    callers of one row with two nonzero values in all would get each other's rows."""
    torch = pytest.importorskip("torch")

    class Model(torch.nn.Module):
        def forward(self, x):
            return x.view(-1, 6) @ torch.ones(6, 2), x.nonzero()

    path = tmp_path / "model.onnx"
    torch.onnx.export(
        Model(),
        (torch.ones(3, 2, 3),),
        str(path),
        input_names=["x"],
        output_names=["y", "nz"],
        dynamic_axes={"x": [0], "y": [0]},
        dynamo=False,
    )
    model = OnnxModel(path, [])
    assert list(model.not_per_row) == ["nz"]
    assert "'Transposenz_dim_0'" in model.not_per_row["nz"]


def test_sklearn_models_whose_rows_inference_cannot_size_still_batch(tmp_path):
    """skl2onnx leaves every first dimension unnamed and ONNX's shape inference does not
    size a tree ensemble's outputs; nothing in those graphs takes a length from values
    (ai.onnx.ml ops map rows to rows), so they still batch, their rows compared with
    the batch's at each batch as before."""
    pytest.importorskip("sklearn")
    skl2onnx = pytest.importorskip("skl2onnx")
    from sklearn.ensemble import RandomForestClassifier

    x = np.random.default_rng(0).random((40, 4)).astype(np.float32)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(x, x[:, 0] > 0.5)
    onx = skl2onnx.to_onnx(forest, x[:1], options={id(forest): {"zipmap": False}})
    (tmp_path / "forest.onnx").write_bytes(onx.SerializeToString())
    proc = make(tmp_path)
    sig = proc.signatures["serving_default"]
    assert sig.not_per_row == {} and sig.batchable
    bodies = [
        TFRequest.from_numpy("serving_default", {"X": x[i : i + 2]}).to_string() for i in (0, 2)
    ]
    alone = [proc.process(body) for body in bodies]
    assert proc.process_batch(bodies) == alone


def test_a_zipmap_output_is_left_out_when_the_request_fetches_the_others(tmp_path):
    """skl2onnx's default classifier export gives its probabilities as a ZipMap (a
    list of dicts per row), which no answer format carries. Was: every request failed
    with a 500 naming it, even one fetching only the label; the session ran it anyway.
    Now the session runs without it: fetching the tensor outputs is served (alone and
    batched), and fetching everything or the ZipMap is a 400 naming both ways out."""
    pytest.importorskip("sklearn")
    skl2onnx = pytest.importorskip("skl2onnx")
    from sklearn.linear_model import LogisticRegression

    x = np.random.default_rng(0).random((40, 4)).astype(np.float32)
    classifier = LogisticRegression().fit(x, x[:, 0] > 0.5)
    (tmp_path / "clf.onnx").write_bytes(skl2onnx.to_onnx(classifier, x[:1]).SerializeToString())
    proc = make(tmp_path)
    bodies = [
        TFRequest.from_numpy("s", {"X": x[i : i + 2]}, fetch=["output_label"]).to_string()
        for i in (0, 2)
    ]
    alone = [proc.process(body) for body in bodies]
    assert [status for _, status in alone] == [200, 200]
    np.testing.assert_array_equal(
        TFResponse(alone[0][0])["output_label"], classifier.predict(x[:2])
    )
    assert proc.process_batch(bodies) == alone
    for fetch in (None, ["output_probability"], ["output_label", "output_probability"]):
        message = rejects(proc, TFRequest.from_numpy("s", {"X": x[:2]}, fetch=fetch).to_string())
        assert "'output_probability' is a seq(map(int64,tensor(float)))" in message, message
        assert (
            "fetch the other outputs (output_label: predict(..., fetch=['output_label'])" in message
        ), message
        assert "'zipmap': False" in message, message
    everything = TFRequest.from_numpy("s", {"X": x[:2]}).to_string()
    assert [status for _, status in proc.process_batch([everything, bodies[0]])] == [400, 200]

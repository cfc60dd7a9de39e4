"""A hostile or careless client of a batched tensor service gets its own 400, naming
what it sent wrong, and never costs another caller its answer.

The bodies are what a hand-built or buggy client sends (SPEC §3): a shape numpy
cannot hold that still passes the value count ([0, 2**63 - 1] carries no values;
70 dims of 1 carry one), values in a field other than the dtype's, values in two
fields, an input given twice, bytes that are not UTF-8 for a string model. Each
goes to a real onnxruntime model, once through ``process_batch`` beside valid
requests (the batch is certain) and once over HTTP to the session kernel with
``rpc.batching`` on, sent together with valid callers.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import requests

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402
from test_processors_onnx import B, W, affine_model  # noqa: E402  (same folder, on sys.path)

from easlab.kernel.processors.base import ProcessorContext  # noqa: E402
from easlab.kernel.processors.onnx import OnnxProcessor  # noqa: E402
from easlab.wire.proto import tf_predict_pb2  # noqa: E402
from easlab.wire.tf import TFRequest, TFResponse  # noqa: E402

TOKEN = "hostile-tensor-token"


def tf_body(name: str, dtype: int, dims: list[int] | None, **fields: list) -> bytes:
    req = tf_predict_pb2.PredictRequest(signature_name="serving_default")
    x = req.inputs[name]
    x.dtype = dtype
    if dims is not None:
        x.array_shape.dim.extend(dims)
    for field, values in fields.items():
        getattr(x, field).extend(values)
    return req.SerializeToString()


FOUR = [1.0, 2.0, 3.0, 4.0]

# (what the client did, body, fragments its 400 must hold)
HOSTILE = [
    (
        "an empty shape too large to hold",
        tf_body("x", 1, [0, 2**63 - 1]),
        ["input 'x': shape [0, 9223372036854775807] cannot be held"],
    ),
    (
        "70 dims",
        tf_body("x", 1, [1] * 70, float_val=[1.0]),
        ["input 'x': shape [1, 1,", "(70 dims)] cannot be held: it has 70 dimensions"],
    ),
    (
        "a huge shape with no data",
        tf_body("x", 1, [1000000000, 1000]),
        ["input 'x': shape [1000000000, 1000] needs 1000000000000 values, the message carries 0"],
    ),
    (
        "DT_FLOAT values in int_val",
        tf_body("x", 1, [1, 4], int_val=[1, 2, 3, 4]),
        ["input 'x': DT_FLOAT values travel in float_val, but this tensor's are in int_val"],
    ),
    (
        "values in float_val and double_val",
        tf_body("x", 1, [1, 4], float_val=FOUR, double_val=FOUR),
        ["input 'x': values in float_val and double_val"],
    ),
    (
        "input 'x' twice",
        tf_body("x", 1, [1, 4], float_val=FOUR) + tf_body("x", 1, [2, 4], float_val=FOUR * 2),
        ["input 'x' appears twice"],
    ),
]


def good_body(i: int) -> tuple[bytes, np.ndarray]:
    x = np.full((i % 3 + 1, 4), i, np.float32)
    return TFRequest.from_numpy("serving_default", {"x": x}).to_string(), x @ W + B


def one_node_model(node: Any, inputs: tuple[str, int], output: tuple[str, int]) -> bytes:
    """An ONNX model of one node from input to output, each [batch, 2] of its type."""
    graph = helper.make_graph(
        [node],
        "one_node",
        [helper.make_tensor_value_info(inputs[0], inputs[1], ["batch", 2])],
        [helper.make_tensor_value_info(output[0], output[1], ["batch", 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def string_model() -> bytes:
    node = helper.make_node("Identity", ["s"], ["o"])
    return one_node_model(node, ("s", TensorProto.STRING), ("o", TensorProto.STRING))


def string_body(values: list[bytes]) -> bytes:
    return tf_body("s", 7, [1, 2], string_val=values)


def uint64_model() -> bytes:
    """u = uint64(x): a row of x at 1e19 gives a value past int64, which no tensor wire
    format carries (wire/tf.py server_array)."""
    node = helper.make_node("Cast", ["x"], ["u"], to=TensorProto.UINT64)
    return one_node_model(node, ("x", TensorProto.FLOAT), ("u", TensorProto.UINT64))


def uint64_body(value: float) -> bytes:
    x = np.full((1, 2), value, np.float32)
    return TFRequest.from_numpy("serving_default", {"x": x}).to_string()


PAST_INT64 = "output 'u': uint64 values above int64 range cannot be sent"
NOT_UTF8 = "input 's': element 1 (b'\\xff\\xfe') is not UTF-8; the model's string inputs are text"


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    affine = tmp_path_factory.mktemp("hostile_affine")
    (affine / "affine.onnx").write_bytes(affine_model())
    strings = tmp_path_factory.mktemp("hostile_strings")
    (strings / "strings.onnx").write_bytes(string_model())
    hashes = tmp_path_factory.mktemp("hostile_hashes")
    (hashes / "hashes.onnx").write_bytes(uint64_model())
    return affine, strings, hashes


def processor(folder) -> OnnxProcessor:
    ctx = ProcessorContext("h", {"processor": "onnx"}, model_path=folder, model_entry=folder)
    proc = OnnxProcessor(ctx)
    proc.initialize()
    return proc


@pytest.fixture(scope="module")
def services(kernel, model_dirs):
    made = []
    names = ("hostile_affine", "hostile_strings", "hostile_hashes")
    for name, folder in zip(names, model_dirs, strict=True):
        svc = kernel.create(
            {
                "name": name,
                "processor": "onnx",
                "model_path": str(folder),
                "token": TOKEN,
                "metadata": {
                    "instance": 1,
                    "rpc": {"batching": True, "max_batch_size": 8, "max_batch_timeout": 20},
                },
            }
        )
        assert svc.status == "Running", svc.desc.get("message")
        made.append(svc)
    yield made
    for svc in made:
        kernel.delete(svc.name)


def post(svc, body: bytes) -> requests.Response:
    return requests.post(
        f"{svc.endpoint}/api/predict/{svc.name}",
        data=body,
        headers={"Authorization": TOKEN},
        timeout=30,
    )


def test_each_hostile_body_in_a_batch_gets_its_own_400_and_the_rest_their_rows(model_dirs):
    proc = processor(model_dirs[0])
    goods = [good_body(i) for i in range(len(HOSTILE) + 1)]
    bodies = [goods[0][0]]
    for (_, body, _), (good, _) in zip(HOSTILE, goods[1:], strict=True):
        bodies += [body, good]
    answers = proc.process_batch(bodies)
    for (_, _, fragments), (body, status) in zip(HOSTILE, answers[1::2], strict=True):
        assert status == 400
        for fragment in fragments:
            assert fragment in body.decode(), body
    for (_, want), (body, status) in zip(goods, answers[0::2], strict=True):
        assert status == 200, body
        np.testing.assert_allclose(TFResponse(body)["y"], want, rtol=1e-6)


@pytest.mark.parametrize("what, body, fragments", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_over_http_beside_valid_callers(services, what, body, fragments):
    svc = services[0]
    calls = [body if i % 4 == 0 else good_body(i)[0] for i in range(12)]
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda b: post(svc, b), calls))
    for i, resp in enumerate(answers):
        if i % 4 == 0:
            assert resp.status_code == 400, resp.content
            for fragment in fragments:
                assert fragment in resp.text
            assert "traceback" not in resp.text
        else:
            assert resp.status_code == 200, resp.content
            np.testing.assert_allclose(TFResponse(resp.content)["y"], good_body(i)[1], rtol=1e-6)


def test_string_bytes_that_are_not_utf8_are_the_callers_to_fix(model_dirs, services):
    """They were answered "the model failed on this request: UnicodeDecodeError", though
    the model never ran: easlab's own conversion to onnxruntime's text had failed."""
    good, bad = string_body([b"ok", "é".encode()]), string_body([b"ok", b"\xff\xfe"])
    answers = processor(model_dirs[1]).process_batch([good, bad, good])
    assert [status for _, status in answers] == [200, 400, 200]
    assert answers[1][0].decode().startswith(NOT_UTF8)
    assert TFResponse(answers[0][0])["o"].tolist() == [[b"ok", "é".encode()]]
    resp = post(services[1], bad)
    assert resp.status_code == 400 and resp.text.startswith(NOT_UTF8), resp.text
    assert post(services[1], good).status_code == 200


def test_an_output_one_caller_cannot_be_sent_fails_that_caller_alone(model_dirs, services):
    """A batch of one layout (the uniform path) whose outputs are split back per caller:
    one caller's uint64 past int64 raised the wire's error out of the batch, and the
    worker answered every caller of the batch "WireError: ..." with a 400 and a
    traceback, though the others' rows were fine. Alone it is that caller's 500."""
    proc = processor(model_dirs[2])
    bodies = [uint64_body(1), uint64_body(1e19), uint64_body(3)]
    proc.process_batch(bodies[:1] * 2)  # learn the layout: the next batch is uniform
    answers = proc.process_batch(bodies)
    assert [status for _, status in answers] == [200, 500, 200]
    assert PAST_INT64 in answers[1][0].decode()
    assert TFResponse(answers[2][0])["u"].tolist() == [[3, 3]]
    calls = [uint64_body(1e19) if i % 4 == 0 else uint64_body(i) for i in range(12)]
    with ThreadPoolExecutor(6) as pool:
        over_http = list(pool.map(lambda b: post(services[2], b), calls))
    for i, resp in enumerate(over_http):
        if i % 4 == 0:
            assert resp.status_code == 500 and PAST_INT64 in resp.text, resp.text
        else:
            assert resp.status_code == 200, resp.text
            assert TFResponse(resp.content)["u"].tolist() == [[i, i]]

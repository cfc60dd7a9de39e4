"""The blade processor: Blade wire format served by an ONNX and by a TorchScript model."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from test_processors_onnx import B, W, affine_model  # noqa: E402  (same folder, on sys.path)

from easlab.kernel.processors.base import ProcessorContext, ProcessorError  # noqa: E402
from easlab.kernel.processors.blade import BladeProcessor  # noqa: E402
from easlab.wire.blade import BladeRequest, BladeResponse, BladeTFRequest  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.* in torch 2.x


class Scale(torch.nn.Module):
    def forward(self, features: torch.Tensor, factor: torch.Tensor):
        return features * factor, (features * factor).argmax(dim=1)


def make(path, config=None) -> BladeProcessor:
    proc = BladeProcessor(
        ProcessorContext(
            "b", {"processor": "blade_cpu"}, model_path=path, model_entry=path, model_config=config
        )
    )
    proc.initialize()
    return proc


@pytest.fixture(scope="module")
def onnx_blade(tmp_path_factory) -> BladeProcessor:
    d = tmp_path_factory.mktemp("blade_onnx")
    (d / "affine.onnx").write_bytes(affine_model())
    return make(d)


@pytest.fixture(scope="module")
def torch_blade(tmp_path_factory) -> BladeProcessor:
    d = tmp_path_factory.mktemp("blade_torch")
    torch.jit.save(torch.jit.script(Scale()), str(d / "scale.pt"))
    config = {
        "inputs": [
            {"name": "features", "shape": [-1, 3], "type": "DT_FLOAT"},
            {"name": "factor", "shape": [-1, 1], "type": "DT_FLOAT"},
        ],
        "outputs": [{"name": "scaled"}, {"name": "best"}],
    }
    return make(d / "scale.pt", config)


X = np.arange(8, dtype=np.float32).reshape(2, 4)


def rejects(proc, data: bytes) -> str:
    with pytest.raises(ProcessorError) as info:
        proc.process(data)
    assert info.value.status == 400
    return info.value.message


def test_onnx_model_by_input_name_and_output_info_dtype(onnx_blade):
    req = BladeRequest.from_numpy({"x": X}, fetch={"y": BladeRequest.DT_INT32})
    body, status = onnx_blade.process(req.to_string())
    assert status == 200
    resp = BladeResponse(body)
    assert list(resp) == ["y"]
    np.testing.assert_array_equal(
        resp.get_values("y", BladeRequest.DT_INT32), (X @ W + B).astype(np.int32).ravel()
    )
    assert resp.get_tensor_shape("y") == [2, 2]
    # No output_info: every output in its nearest Blade type.
    body, _ = onnx_blade.process(BladeTFRequest.from_numpy("serving_default", {"x": X}).to_string())
    assert sorted(BladeResponse(body)) == ["sq", "y"]


def test_torchscript_model_named_by_forward_arguments(torch_blade):
    feats = np.array([[1, 5, 2], [3, 0, 1]], np.float32)
    factor = np.array([[2], [-1]], np.float32)
    body, status = torch_blade.process(
        BladeRequest.from_numpy({"features": feats, "factor": factor}).to_string()
    )
    assert status == 200
    resp = BladeResponse(body)
    np.testing.assert_array_equal(resp["scaled"], feats * factor)
    np.testing.assert_array_equal(resp["best"], (feats * factor).argmax(axis=1))
    assert torch_blade.signature()["inputs"] == [
        {"name": "features", "shape": [-1, 3], "type": "DT_FLOAT"},
        {"name": "factor", "shape": [-1, 1], "type": "DT_FLOAT"},
    ]
    assert torch_blade.signature()["format"] == "blade"


def test_mismatches_answer_400(onnx_blade, torch_blade):
    assert rejects(
        onnx_blade, BladeRequest.from_numpy({"x": np.zeros((1, 5), np.float32)}).to_string()
    ) == ("input 'x': expected shape [-1, 4] DT_FLOAT, got [1, 5] DT_FLOAT")
    assert rejects(
        torch_blade, BladeRequest.from_numpy({"features": np.zeros((1, 3), np.float32)}).to_string()
    ).startswith("missing input 'factor' (expected shape [-1, 1] DT_FLOAT)")
    assert rejects(
        onnx_blade, BladeRequest.from_numpy({"x": X}, fetch=["z"]).to_string()
    ).startswith("unknown output 'z' in the fetch list")
    assert "cannot parse the blade request" in rejects(onnx_blade, b"\x12\x03abc")


def test_batch_splits_back(onnx_blade):
    xs = [np.full((n, 4), n, np.float32) for n in (2, 1)]
    answers = onnx_blade.process_batch(
        [
            BladeRequest.from_numpy({"x": x}, fetch={"y": BladeRequest.DT_FLOAT}).to_string()
            for x in xs
        ]
        + [b"garbage"]
    )
    assert [s for _, s in answers] == [200, 200, 400]
    for x, (body, _) in zip(xs, answers[:2], strict=True):
        np.testing.assert_allclose(BladeResponse(body)["y"], x @ W + B)


def test_official_blade_request(onnx_blade, run_official):
    body = run_official(
        """
        import base64, sys
        from eas_prediction import BladeRequest
        req = BladeRequest("serving_default")  # BladeRequest() raises with protobuf 3.20
        req.add_feed("x", 2, [2, 4], BladeRequest.DT_FLOAT, [float(v) for v in range(8)])
        req.add_fetch("y", BladeRequest.DT_FLOAT)
        sys.stdout.write(base64.b64encode(req.to_string()).decode())
        """
    )
    answer, status = onnx_blade.process(base64.b64decode(body))
    assert status == 200
    out = json.loads(
        run_official(
            """
        import json, sys
        from eas_prediction import BladeRequest
        from eas_prediction.blade_request import BladeResponse
        resp = BladeResponse(sys.stdin.buffer.read())
        print(json.dumps([list(resp.get_values("y", BladeRequest.DT_FLOAT)), resp.get_tensor_shape("y")]))
        """,
            stdin=answer,
        )
    )
    np.testing.assert_allclose(out[0], (X @ W + B).ravel())
    assert out[1] == [2, 2]

"""The official client's TF and Blade requests, over HTTP with a token, against model processors.

Completes test_processors_e2e.py (ONNX with TFRequest, PMML with StringRequest,
Torch with a snappy TorchRequest): the tensorflow processor on a real SavedModel
and the blade processor on a real ONNX model, each served by the kernel.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_processors_onnx import B, W, affine_model

TOKEN = "official-models-token"


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    import tensorflow as tf

    class Scale(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="images")])
        def serve(self, images):
            return {"scores": images * 2.0 + 1.0}

    model = Scale()
    root = tmp_path_factory.mktemp("tf_e2e")
    tf.saved_model.save(model, str(root), signatures={"serving_default": model.serve})
    return root


def _create(kernel, spec):
    svc = kernel.create(spec)
    assert svc.status == "Running", svc.desc.get("message")
    return svc


def test_official_tf_request_against_a_savedmodel(kernel, saved_model, run_official):
    svc = _create(
        kernel,
        {
            "name": "official_tf_e2e",
            "processor": "tensorflow_cpu_1.15",
            "model_path": str(saved_model),
            "token": TOKEN,
            "metadata": {"instance": 1},
        },
    )
    try:
        out = json.loads(
            run_official(
                f"""
                import json
                from eas_prediction import PredictClient, TFRequest
                client = PredictClient({svc.endpoint!r}, {svc.name!r})
                client.set_token({TOKEN!r})
                client.init()
                req = TFRequest("serving_default")
                req.add_feed("images", [2, 3], TFRequest.DT_FLOAT, [0, 1, 2, 3, 4, 5])
                req.add_fetch("scores")
                resp = client.predict(req)
                wrong = PredictClient({svc.endpoint!r}, {svc.name!r})
                wrong.set_token("not-the-token")
                wrong.init()
                try:
                    wrong.predict(req)
                    err = None
                except Exception as exc:
                    err = str(exc)
                print(json.dumps([resp.get_tensor_shape("scores"),
                                  list(resp.get_values("scores")), err]))
                """
            )
        )
        assert out[0] == [2, 3]
        np.testing.assert_allclose(out[1], np.arange(6) * 2.0 + 1.0)
        assert out[2].startswith("Code: 401")
    finally:
        kernel.delete(svc.name)


def test_official_blade_request_against_an_onnx_model(kernel, tmp_path, run_official):
    (tmp_path / "affine.onnx").write_bytes(affine_model())
    svc = _create(
        kernel,
        {
            "name": "official_blade_e2e",
            "processor": "blade_cpu",
            "model_path": str(tmp_path),
            "token": TOKEN,
            "metadata": {"instance": 1},
        },
    )
    try:
        out = json.loads(
            run_official(
                f"""
                import json
                from eas_prediction import PredictClient, BladeRequest
                client = PredictClient({svc.endpoint!r}, {svc.name!r})
                client.set_token({TOKEN!r})
                client.init()
                req = BladeRequest("serving_default")
                req.add_feed("x", 1, [1, 4], BladeRequest.DT_FLOAT, [1.0, 2.0, 3.0, 4.0])
                req.add_fetch("y", BladeRequest.DT_FLOAT)
                resp = client.predict(req)
                print(json.dumps([resp.get_tensor_shape("y"),
                                  list(resp.get_values("y", BladeRequest.DT_FLOAT))]))
                """
            )
        )
        x = np.array([[1, 2, 3, 4]], np.float32)
        assert list(out[0]) == [1, 2]
        np.testing.assert_allclose(out[1], (x @ W + B).ravel(), rtol=1e-6)
    finally:
        kernel.delete(svc.name)

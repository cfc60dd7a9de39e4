"""The tensorflow processor on a tiny SavedModel (one module fixture: importing TF is slow)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from easlab.kernel.processors.base import ProcessorContext, ProcessorError
from easlab.kernel.processors.tensorflow import TensorFlowProcessor
from easlab.wire.tf import TFRequest, TFResponse

W = np.array([[1, 2], [3, 4], [5, 6], [7, 8]], np.float32)


@pytest.fixture(scope="module")
def tf_proc(tmp_path_factory) -> TensorFlowProcessor:
    tf = pytest.importorskip("tensorflow")

    class Model(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(W)

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, 4], tf.float32, name="images"),
                tf.TensorSpec([None], tf.string, name="tags"),
            ]
        )
        def serve(self, images, tags):
            return {"scores": tf.matmul(images, self.w), "tag_len": tf.strings.length(tags)}

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="images")])
        def double(self, images):
            return {"doubled": images * 2}

    model = Model()
    # TF Serving layout: the highest numeric version directory is served.
    root = tmp_path_factory.mktemp("tf_model")
    tf.saved_model.save(model, str(root / "1"), signatures={"serving_default": model.double})
    tf.saved_model.save(
        model, str(root / "2"), signatures={"serving_default": model.serve, "double": model.double}
    )
    proc = TensorFlowProcessor(
        ProcessorContext(
            "tf", {"processor": "tensorflow_cpu_1.15"}, model_path=root, model_entry=root
        )
    )
    proc.initialize()
    yield proc
    proc.close()


X = np.arange(8, dtype=np.float32).reshape(2, 4)
TAGS = np.array([b"ab", b"xyz"], dtype=object)


def rejects(proc, data: bytes) -> str:
    with pytest.raises(ProcessorError) as info:
        proc.process(data)
    assert info.value.status == 400
    return info.value.message


def test_default_signature_all_outputs_and_fetch(tf_proc):
    body, status = tf_proc.process(
        TFRequest.from_numpy("serving_default", {"images": X, "tags": TAGS}).to_string()
    )
    assert status == 200
    resp = TFResponse(body)
    np.testing.assert_allclose(resp["scores"], X @ W)
    np.testing.assert_array_equal(resp["tag_len"], [2, 3])
    body, _ = tf_proc.process(
        TFRequest.from_numpy("", {"images": X, "tags": TAGS}, fetch=["tag_len"]).to_string()
    )
    assert list(TFResponse(body)) == ["tag_len"]


def test_request_selects_the_signature(tf_proc):
    body, _ = tf_proc.process(TFRequest.from_numpy("double", {"images": X}).to_string())
    np.testing.assert_array_equal(TFResponse(body)["doubled"], X * 2)
    assert rejects(tf_proc, TFRequest.from_numpy("predict_images", {"images": X}).to_string()) == (
        "unknown signature 'predict_images'; the model has: double, serving_default"
    )


def test_signature_json(tf_proc):
    assert tf_proc.signature() == {
        "signature_name": "serving_default",
        "format": "tf",
        "inputs": [
            {"name": "images", "shape": [-1, 4], "type": "DT_FLOAT"},
            {"name": "tags", "shape": [-1], "type": "DT_STRING"},
        ],
        "outputs": [
            {"name": "scores", "shape": [-1, 2], "type": "DT_FLOAT"},
            {"name": "tag_len", "shape": [-1], "type": "DT_INT32"},
        ],
    }


def test_mismatches_answer_400_naming_the_input(tf_proc):
    def req(**inputs):
        return TFRequest.from_numpy("serving_default", inputs).to_string()

    assert rejects(tf_proc, req(images=np.zeros((1, 3), np.float32), tags=TAGS[:1])) == (
        "input 'images': expected shape [-1, 4] DT_FLOAT, got [1, 3] DT_FLOAT"
    )
    assert rejects(tf_proc, req(images=X, tags=np.array([1, 2], np.int32))) == (
        "input 'tags': expected shape [-1] DT_STRING, got [2] DT_INT32"
    )
    assert rejects(tf_proc, req(images=X)).startswith("missing input 'tags'")
    assert rejects(tf_proc, req(images=X, tags=TAGS, labels=X)).startswith(
        "unknown input 'labels'; signature 'serving_default' takes: images, tags"
    )
    assert "cannot parse the tf request" in rejects(tf_proc, b"\x12\x09\x0a\x03abc")  # truncated


def test_batch_splits_back_per_request(tf_proc):
    xs = [np.full((n, 4), n, np.float32) for n in (1, 2)]
    answers = tf_proc.process_batch(
        [
            TFRequest.from_numpy(
                "serving_default", {"images": xs[0], "tags": np.array([b"a"], object)}
            ).to_string(),
            TFRequest.from_numpy("double", {"images": xs[1]}).to_string(),
            TFRequest.from_numpy(
                "serving_default", {"images": xs[1], "tags": np.array([b"bb", b"c"], object)}
            ).to_string(),
            b"\xff",
        ]
    )
    assert [s for _, s in answers] == [200, 200, 200, 400]
    first, second, third = (TFResponse(a[0]) for a in answers[:3])
    np.testing.assert_allclose(first["scores"], xs[0] @ W)
    np.testing.assert_array_equal(first["tag_len"], [1])
    np.testing.assert_array_equal(second["doubled"], xs[1] * 2)
    np.testing.assert_allclose(third["scores"], xs[1] @ W)
    np.testing.assert_array_equal(third["tag_len"], [2, 1])


def test_official_client_request_and_response(tf_proc, run_official):
    body = run_official(
        """
        import base64, sys
        from eas_prediction import TFRequest
        req = TFRequest("serving_default")
        req.add_feed("images", [2, 4], TFRequest.DT_FLOAT, [float(v) for v in range(8)])
        req.add_feed("tags", [2], TFRequest.DT_STRING, [b"ab", b"xyz"])
        req.add_fetch("scores")
        sys.stdout.write(base64.b64encode(req.to_string()).decode())
        """
    )
    answer, status = tf_proc.process(base64.b64decode(body))
    assert status == 200
    out = json.loads(
        run_official(
            """
        import json, sys
        from eas_prediction.tf_request import TFResponse
        resp = TFResponse(sys.stdin.buffer.read())
        print(json.dumps([list(resp.get_values("scores")), resp.get_tensor_shape("scores")]))
        """,
            stdin=answer,
        )
    )
    assert out == [(X @ W).ravel().tolist(), [2, 2]]

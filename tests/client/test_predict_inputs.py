"""predict() beyond request objects: numpy through the service's signature, records, raw bytes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from stub_http import Reply, Seen, echo

from easlab import PredictClient, PredictException, ShapeError
from easlab.wire.proto import tf_predict_pb2, torch_predict_pb2

TF_SIGNATURE = {
    "signature_name": "predict_images",
    "inputs": [{"name": "images", "shape": [-1, 4], "type": "DT_FLOAT"}],
    "outputs": [{"name": "scores", "shape": [-1, 2], "type": "DT_FLOAT"}],
}


def tf_service(signature: dict):
    """GET: the signature; POST: a TF request whose ``scores`` are the row sums and means."""

    def handle(seen: Seen) -> Reply:
        if seen.method == "GET":
            return Reply(200, json.dumps(signature).encode())
        request = tf_predict_pb2.PredictRequest.FromString(seen.body)
        images = request.inputs["images"]
        x = np.array(images.float_val, np.float32).reshape(list(images.array_shape.dim))
        answer = tf_predict_pb2.PredictResponse()
        out = answer.outputs["scores"]
        out.dtype = tf_predict_pb2.DT_FLOAT
        out.array_shape.dim.extend([x.shape[0], 2])
        out.float_val.extend(np.stack([x.sum(1), x.mean(1)], 1).ravel().tolist())
        return Reply(200, answer.SerializeToString())

    return handle


def test_numpy_dict_through_the_signature(stub_server):
    server = stub_server(tf_service(TF_SIGNATURE))
    client = PredictClient(server.url, "mnist")
    client.set_token("secret")
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    resp = client.predict({"images": x})
    np.testing.assert_allclose(resp["scores"], np.stack([x.sum(1), x.mean(1)], 1))
    assert resp.latency.total_ms > 0
    get, post = server.seen
    assert (get.method, get.path) == ("GET", "/api/predict/mnist")
    assert get.headers["Authorization"] == "secret"  # plain token: the signature covers POST only
    request = tf_predict_pb2.PredictRequest.FromString(post.body)
    assert request.signature_name == "predict_images"
    # The signature is read once per client.
    client.predict(x)  # a single array for a single-input service
    client.predict(x[:1])
    assert [s.method for s in server.seen] == ["GET", "POST", "POST", "POST"]
    client.destroy()


def test_inputs_are_checked_before_sending(stub_server):
    server = stub_server(tf_service(TF_SIGNATURE))
    client = PredictClient(server.url, "mnist")
    with pytest.raises(ShapeError, match="images"):
        client.predict({"images": np.zeros((2, 5), np.float32)})
    assert [s.method for s in server.seen] == ["GET"]
    client.destroy()


def test_torch_signature_builds_a_torch_request(stub_server):
    signature = {"format": "torch", "inputs": [{"name": "0", "shape": [-1, 3], "type": "DT_FLOAT"}]}
    answer = torch_predict_pb2.PredictResponse()
    out = answer.outputs.add()
    out.dtype = torch_predict_pb2.DT_FLOAT
    out.array_shape.dim.extend([1])
    out.float_val.append(6.0)

    def handle(seen: Seen) -> Reply:
        if seen.method == "GET":
            return Reply(200, json.dumps(signature).encode())
        return Reply(200, answer.SerializeToString())

    server = stub_server(handle)
    client = PredictClient(server.url, "resnet")
    resp = client.predict([np.array([[1, 2, 3]], np.float32)])
    assert resp[0].tolist() == [6.0]
    request = torch_predict_pb2.PredictRequest.FromString(server.seen[1].body)
    assert list(request.inputs[0].float_val) == [1.0, 2.0, 3.0]
    client.destroy()


def test_numpy_for_a_service_without_signature_says_so(stub_server):
    server = stub_server(lambda seen: Reply(200, b"hello from a python processor"))
    client = PredictClient(server.url, "echo")
    with pytest.raises(PredictException) as info:
        client.predict(np.zeros(3))
    assert "tensor service" in info.value.message
    client.destroy()


def test_records_become_a_json_body(stub_server):
    server = stub_server(lambda seen: Reply(200, b'[{"p_0": 0.9, "p_1": 0.1}]'))
    client = PredictClient(server.url, "pmml")
    records = [{"sex": 0, "cp": 1}, {"sex": 1, "cp": 0}]
    resp = client.predict(records)
    # the signature is read once (a Seldon service would take records as data.ndarray)
    assert [s.method for s in server.seen] == ["GET", "POST"]
    assert json.loads(server.seen[1].body) == records
    assert resp.status_code == 200
    import pandas as pd

    client.predict(pd.DataFrame(records))
    assert json.loads(server.seen[2].body) == records
    client.destroy()


@pytest.mark.parametrize("data", [b"\x00raw bytes", "text é", bytearray(b"ba")])
def test_bytes_and_str_are_sent_as_is(stub_server, data):
    server = stub_server(echo)
    client = PredictClient(server.url, "echo")
    resp = client.predict(data)
    expected = data.encode() if isinstance(data, str) else bytes(data)
    assert server.seen[0].body == expected
    assert resp.to_string() == expected.decode("utf-8", "replace")
    assert resp.latency.attempts == 1
    client.destroy()


def test_records_to_a_service_that_answers_text_give_the_text(stub_server):
    # a python processor that answers text to JSON records: the model ran, its 200
    # answer is the result, not an exception after the fact
    import pandas as pd

    server = stub_server(lambda seen: Reply(200, b"predicted: 2 rows"))
    client = PredictClient(server.url, "texty")
    for value in (pd.DataFrame({"a": [1, 2]}), [{"a": 1}], {"a": 1}):
        resp = client.predict(value)
        assert str(resp) == "predicted: 2 rows" and resp.data == "predicted: 2 rows"
        assert resp.is_json is False and resp.status_code == 200
        with pytest.raises(ValueError, match="answered text, not JSON records"):
            resp.to_dataframe()
        with pytest.raises(ValueError, match="answered text, not JSON records"):
            resp[0]  # not the text's first character
    assert [s.method for s in server.seen].count("POST") == 3
    json_server = stub_server(lambda seen: Reply(200, b'[{"p": 0.5}]'))
    resp = PredictClient(json_server.url, "records").predict([{"a": 1}])
    assert resp.is_json and resp.to_list() == [{"p": 0.5}]

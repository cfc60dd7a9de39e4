"""numpy-first requests, numpy/pandas responses, JSON/string bodies and build_request."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import easlab
from easlab.errors import DTypeError, RequestError, ShapeError
from easlab.wire import WireError
from easlab.wire.blade import BladeRequest, BladeTFRequest
from easlab.wire.build import build_request, request_from_signature
from easlab.wire.json import JsonRequest, JsonResponse
from easlab.wire.onnx import OnnxRequest
from easlab.wire.string import StringRequest, StringResponse
from easlab.wire.tf import TFRequest, TFResponse, encode_tf_response, parse_tf_request
from easlab.wire.torch import TorchRequest, parse_torch_request


def test_top_level_names_resolve():
    for name in (
        "TFRequest TFResponse TorchRequest TorchResponse BladeRequest BladeResponse BladeTFRequest "
        "CaffeRequest CaffeResponse StringRequest StringResponse JsonRequest JsonResponse OnnxRequest OnnxResponse"
    ).split():
        assert getattr(easlab, name).__name__ == name
    assert issubclass(WireError, ValueError)


def test_official_constants():
    assert TFRequest.TF_BOOL == TFRequest.DT_BOOL == 10
    assert (TFRequest.DT_FLOAT, TFRequest.DT_STRING, TFRequest.DT_HALF, TFRequest.DT_QINT32) == (
        1,
        7,
        19,
        13,
    )
    assert (
        TorchRequest.DT_INT64 == 9
        and BladeRequest.DT_STRING == 4
        and BladeTFRequest.DT_UNKNOWN == 0
    )


def test_tf_numpy_form_equals_flat_form():
    x = np.random.default_rng(0).random((2, 5)).astype(np.float32)
    flat = TFRequest("s").add_feed("x", [2, 5], TFRequest.DT_FLOAT, x.ravel().tolist()).to_string()
    assert TFRequest("s").add_feed("x", x).to_string() == flat
    assert TFRequest("s").add_feed("x", np.asfortranarray(x)).to_string() == flat
    assert TFRequest("s").add_feed("x", x[:, ::1].T.T).to_string() == flat
    # explicit dtype in the numpy form casts
    cast = TFRequest("s").add_feed("x", x.astype(np.float64), TFRequest.DT_FLOAT).to_string()
    assert cast == flat


def test_non_contiguous_and_strided_arrays():
    base = np.arange(24, dtype=np.int32).reshape(4, 6)
    view = base[::2, 1::2]
    data = parse_tf_request(TFRequest("s").add_feed("v", view).to_string())
    np.testing.assert_array_equal(data.inputs["v"], view)


def test_bool_string_and_scalar_feeds():
    req = (
        TFRequest("s")
        .add_feed("flag", np.array([[True, False]]))
        .add_feed("word", np.array(["héllo", "x"]))
    )
    req.add_feed("bytes", np.array([b"a\x00b"], dtype=object)).add_feed(
        "k", np.float64(2.5)
    ).add_feed("lst", [1, 2, 3])
    data = parse_tf_request(req.to_string())
    assert data.inputs["flag"].dtype == np.bool_ and data.inputs["flag"].shape == (1, 2)
    assert data.inputs["word"].tolist() == ["héllo".encode(), b"x"]
    assert data.inputs["bytes"].tolist() == [b"a\x00b"]
    assert data.inputs["k"].shape == () and data.inputs["k"].dtype == np.float64
    assert data.inputs["lst"].dtype == np.int64


def test_string_feeds_given_as_lists_keep_trailing_nul_bytes():
    # numpy's fixed-width S/U dtypes drop trailing NULs; a list of bytes or str
    # must reach the wire unchanged (binary blobs often end in \x00).
    from easlab.wire.blade import parse_blade_request

    blobs = [b"ab\x00", b"\x00", b"c"]
    texts = ["x\x00", "y"]
    T = TFRequest
    tf = (
        T("s")
        .add_feed("flat", [3], T.DT_STRING, blobs)
        .add_feed("list", blobs)
        .add_feed("nested", [blobs])
        .add_feed("typed", blobs, T.DT_STRING)
        .add_feed("text", texts)
    )
    got = parse_tf_request(tf.to_string()).inputs
    assert got["flat"].tolist() == blobs
    assert got["list"].tolist() == blobs
    assert got["nested"].shape == (1, 3) and got["nested"].tolist() == [blobs]
    assert got["typed"].tolist() == blobs
    assert got["text"].tolist() == [b"x\x00", b"y"]
    torch = TorchRequest().add_feed(0, [3], TorchRequest.DT_STRING, blobs).add_feed(1, blobs)
    assert [x.tolist() for x in parse_torch_request(torch.to_string()).inputs] == [blobs, blobs]
    blade = (
        BladeRequest()
        .add_feed("flat", 1, [3], BladeRequest.DT_STRING, blobs)
        .add_feed("list", 1, blobs)
    )
    got = parse_blade_request(blade.to_string()).inputs
    assert got["flat"].tolist() == blobs and got["list"].tolist() == blobs
    blade_tf = BladeTFRequest("s").add_feed("list", blobs)
    assert parse_blade_request(blade_tf.to_string()).inputs["list"].tolist() == blobs
    sig = {"inputs": [{"name": "w", "shape": [-1], "type": "DT_STRING"}], "outputs": []}
    req = request_from_signature(sig, {"w": blobs})
    assert parse_tf_request(req.to_string()).inputs["w"].tolist() == blobs


def test_from_numpy_classmethods():
    x = np.ones((1, 3), np.float32)
    tf = TFRequest.from_numpy("sig", {"images": x}, fetch=["scores"])
    assert parse_tf_request(tf.to_string()).output_filter == ["scores"]
    torch = TorchRequest.from_numpy({1: x, 0: x}, fetch=[0])
    assert len(parse_torch_request(torch.to_string()).inputs) == 2
    blade = BladeRequest.from_numpy({"input_data": np.ones((4, 2), np.float32)}, fetch=["out"])
    from easlab.wire.blade import parse_blade_request

    assert parse_blade_request(blade.to_string()).batch_sizes == {"input_data": 4}


def test_response_numpy_and_dataframe():
    body = encode_tf_response(
        {"scores": np.arange(6, dtype=np.float32).reshape(3, 2), "label": np.array([1, 0, 1])}
    )
    resp = TFRequest("s").parse_response(body)
    assert resp.keys() == ["scores", "label"] and "scores" in resp and len(resp) == 2
    assert resp["scores"].shape == (3, 2)
    assert set(resp.to_numpy()) == {"scores", "label"}
    df = resp.to_dataframe()
    assert list(df.columns) == ["scores_0", "scores_1", "label"] and len(df) == 3
    assert resp.get_values("scores") == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert resp.get_tensor_shape("scores") == [3, 2]
    assert "scores" in resp.to_string() and "float_val" in resp.to_string()
    with pytest.raises(KeyError, match=r"no output 'nope'.*\['scores', 'label'\]"):
        resp["nope"]
    cube = TFResponse(encode_tf_response({"c": np.zeros((1, 2, 2), np.float32)}))
    with pytest.raises(ValueError, match=r"'c' has shape \(1, 2, 2\)"):
        cube.to_dataframe()


@pytest.mark.parametrize("order", [("p", "p_0"), ("p_0", "p")])
def test_to_dataframe_refuses_a_column_name_two_outputs_give(order):
    # Output 'p' of width 2 gives columns p_0 and p_1; an output named 'p_0' too
    # replaced one of them without a word (the frame showed p_0 = 9, 9: 'p''s
    # first column was gone).
    outputs = {"p": np.array([[1.0, 2.0], [3.0, 4.0]], np.float32), "p_0": np.full(2, 9.0)}
    resp = TFResponse(encode_tf_response({name: outputs[name] for name in order}))
    with pytest.raises(ValueError, match=r"column 'p_0' comes from both output 'p.*' and 'p.*'"):
        resp.to_dataframe()


def test_json_request_from_dataframe_and_records():
    df = pd.DataFrame({"sex": [0, 1], "cp": [1.5, np.nan], "name": ["a", "b"]})
    body = JsonRequest(df).to_string()
    assert json.loads(body) == [
        {"sex": 0, "cp": 1.5, "name": "a"},
        {"sex": 1, "cp": None, "name": "b"},
    ]
    assert json.loads(JsonRequest([{"x": np.int64(3)}]).to_string()) == [{"x": 3}]
    assert json.loads(JsonRequest({"x": 1}).to_string()) == {"x": 1}
    assert json.loads(build_request("json", [[1, 2], [3, 4]]).to_string()) == [[1, 2], [3, 4]]
    with pytest.raises(RequestError, match="cannot be sent as JSON"):
        JsonRequest([{"x": object()}])
    with pytest.raises(RequestError, match="infinite"):
        JsonRequest([{"x": float("inf")}]).to_string()


def test_json_response():
    resp = JsonRequest([]).parse_response(b'[{"p_0":0.994,"p_1":0.006},{"p_0":0.1,"p_1":0.9}]')
    assert (
        resp.to_list()[1] == {"p_0": 0.1, "p_1": 0.9} and resp[0]["p_0"] == 0.994 and len(resp) == 2
    )
    assert list(resp.to_dataframe().columns) == ["p_0", "p_1"]
    assert JsonResponse(b'{"a": 1}').to_list() == [{"a": 1}]
    with pytest.raises(WireError, match="not JSON"):
        JsonResponse(b"<html>")


def test_string_request_response():
    # to_string() gives back what was given, as the official client; bytes() is the body
    assert StringRequest("héllo").to_string() == "héllo"
    assert bytes(StringRequest("héllo")) == "héllo".encode()
    assert StringRequest(b"\x00\x01").to_string() == b"\x00\x01"
    assert bytes(StringRequest(b"\x00\x01")) == b"\x00\x01"
    assert StringRequest().to_string() == "" and bytes(StringRequest()) == b""
    resp = StringRequest().parse_response(b'{"ok": true}')
    assert (
        isinstance(resp, StringResponse)
        and resp.to_string() == '{"ok": true}'
        and resp.json() == {"ok": True}
    )
    assert bytes(resp) == b'{"ok": true}'
    with pytest.raises(TypeError, match="JsonRequest"):
        StringRequest({"a": 1})  # type: ignore[arg-type]


def test_build_request_every_format():
    x = np.ones((1, 2), np.float32)
    assert (
        parse_tf_request(build_request("tf", {"x": x}, "sig", ["y"]).to_string()).signature_name
        == "sig"
    )
    assert len(parse_torch_request(build_request("torch", [x, x]).to_string()).inputs) == 2
    named = parse_torch_request(build_request("torch", {0: x, "m": x}).to_string())
    assert len(named.inputs) == 1 and "m" in named.map_inputs
    assert isinstance(build_request("blade", {"x": x}), BladeRequest)
    assert isinstance(build_request("onnx", {"x": x}), OnnxRequest)
    assert bytes(build_request("string", "abc")) == b"abc"
    with pytest.raises(RequestError, match="unknown request format 'xml'.*tf, torch"):
        build_request("xml", {})
    with pytest.raises(RequestError, match="dict of input name"):
        build_request("tf", [x])
    with pytest.raises(RequestError, match="no fetch"):
        build_request("onnx", {"x": x}, fetch=["y"])


SIGNATURE = {
    "signature_name": "predict_images",
    "inputs": [{"name": "images", "shape": [-1, 784], "type": "DT_FLOAT"}],
    "outputs": [{"name": "scores", "shape": [-1, 10], "type": "DT_FLOAT"}],
}


def test_request_from_signature():
    x = np.zeros((3, 784), np.float32)
    req = request_from_signature(SIGNATURE, x)
    data = parse_tf_request(req.to_string())
    assert data.signature_name == "predict_images" and data.inputs["images"].shape == (3, 784)
    # a plain list takes the signature's dtype
    assert (
        parse_tf_request(request_from_signature(SIGNATURE, {"images": [[0.0] * 784]}).to_string())
        .inputs["images"]
        .dtype
        == np.float32
    )
    with pytest.raises(
        ShapeError, match=r"'images'.*expected shape \[-1, 784\].*received \[3, 28, 28\]"
    ):
        request_from_signature(SIGNATURE, np.zeros((3, 28, 28), np.float32))
    with pytest.raises(
        DTypeError, match=r"'images'.*expected DT_FLOAT \(float32\), received float64"
    ):
        request_from_signature(SIGNATURE, np.zeros((1, 784)))
    with pytest.raises(ShapeError, match=r"missing \['images'\]; unknown \['img'\]"):
        request_from_signature(SIGNATURE, {"img": x})


def test_request_from_signature_other_formats():
    torch_sig = {"format": "torch", "inputs": [{"name": "0", "shape": [-1, 3], "type": "DT_FLOAT"}]}
    req = request_from_signature(torch_sig, [np.zeros((2, 3), np.float32)])
    assert isinstance(req, TorchRequest)
    onnx_sig = {
        "format": "onnx",
        "inputs": [
            {"name": "x", "shape": [-1, 2], "type": "tensor(float)"},
            {"name": "w", "shape": [1], "type": "DT_STRING"},
        ],
    }
    with pytest.raises(DTypeError, match=r"'w'.*strings.*float32"):
        request_from_signature(
            onnx_sig, {"x": np.zeros((1, 2), np.float32), "w": np.zeros(1, np.float32)}
        )
    with pytest.raises(ShapeError, match="takes 2 inputs"):
        request_from_signature(onnx_sig, np.zeros((1, 2), np.float32))


def test_a_bfloat16_input_says_to_cast_with_ml_dtypes_which_has_the_type():
    # the message said x.astype(np.bfloat16), which numpy has not (an AttributeError when
    # the user follows it); ml_dtypes' bfloat16 is the one TF and JAX use
    import ml_dtypes  # noqa: F401 - onnx's dependency: easlab's bfloat16 is ml_dtypes'

    sig = {"inputs": [{"name": "x", "shape": [-1, 2], "type": "DT_BFLOAT16"}]}
    with pytest.raises(DTypeError, match=r"cast it, e\.g\. x\.astype\(ml_dtypes\.bfloat16\)"):
        request_from_signature(sig, np.zeros((1, 2), np.float32))

"""The server-side codec the kernel's processors use: parse requests, encode responses."""

from __future__ import annotations

import struct

import cramjam
import numpy as np
import pytest

from easlab.wire import WireError
from easlab.wire.blade import (
    BladeRequest,
    BladeResponse,
    BladeTFRequest,
    encode_blade_response,
    parse_blade_request,
)
from easlab.wire.caffe import (
    CaffeRequest,
    CaffeResponse,
    encode_caffe_response,
    parse_caffe_request,
)
from easlab.wire.onnx import OnnxRequest, OnnxResponse, encode_onnx_response, parse_onnx_request
from easlab.wire.proto import tf_predict_pb2, torch_predict_pb2
from easlab.wire.tf import TFRequest, TFResponse, encode_tf_response, parse_tf_request
from easlab.wire.torch import (
    TorchRequest,
    TorchResponse,
    encode_torch_response,
    parse_torch_request,
)


def _ld(field: int, payload: bytes) -> bytes:
    assert len(payload) < 128
    return bytes([field << 3 | 2, len(payload)]) + payload


def test_tf_request_round_trip():
    x = np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4))
    body = TFRequest.from_numpy(
        "sig", {"x": x, "ids": np.array([[1], [-2]]), "w": np.array(["a", "b"])}, fetch=["y"]
    ).to_string()
    data = parse_tf_request(body)
    assert data.signature_name == "sig" and data.output_filter == ["y"]
    np.testing.assert_array_equal(data.inputs["x"], x)
    assert data.inputs["ids"].dtype == np.int64 and data.inputs["ids"].tolist() == [[1], [-2]]
    assert data.inputs["w"].tolist() == [b"a", b"b"]


def test_tf_unpacked_floats_fall_back_to_protobuf():
    # float_val written unpacked (one fixed32 record per value) is legal protobuf
    array = (
        b"\x08\x01"
        + _ld(2, _ld(1, b"\x02"))
        + b"\x1d"
        + struct.pack("<f", 1.5)
        + b"\x1d"
        + struct.pack("<f", -2.0)
    )
    body = _ld(1, b"s") + _ld(2, _ld(1, b"x") + _ld(2, array))
    assert tf_predict_pb2.PredictRequest.FromString(body).inputs["x"].float_val == [1.5, -2.0]
    data = parse_tf_request(body)
    np.testing.assert_array_equal(data.inputs["x"], np.array([1.5, -2.0], np.float32))
    resp = TFResponse(_ld(1, _ld(1, b"x") + _ld(2, array)))
    np.testing.assert_array_equal(resp["x"], np.array([1.5, -2.0], np.float32))


def test_tf_packed_field_split_in_two_records():
    array = (
        b"\x08\x01"
        + _ld(2, _ld(1, b"\x03"))
        + _ld(3, struct.pack("<2f", 1, 2))
        + _ld(3, struct.pack("<f", 3))
    )
    data = parse_tf_request(_ld(2, _ld(1, b"x") + _ld(2, array)))
    assert data.inputs["x"].tolist() == [1.0, 2.0, 3.0]


def test_tf_scalar_without_array_shape():
    array = b"\x08\x09" + _ld(7, b"\x07")  # DT_INT64, no array_shape, int64_val [7]
    data = parse_tf_request(_ld(2, _ld(1, b"k") + _ld(2, array)))
    assert data.inputs["k"].shape == () and data.inputs["k"] == 7


@pytest.mark.parametrize(
    "body, pattern",
    [
        (b"\xff\xff\xff", "not a TensorFlow PredictRequest.*varint"),
        (b"\x12\x50abc", "not a TensorFlow PredictRequest.*claims 80 bytes"),
        (b"\x08\x01", "not a TensorFlow PredictRequest.*field 1 has wire type 0"),
        (
            _ld(
                2, _ld(1, b"x") + _ld(2, b"\x08\x01" + _ld(2, _ld(1, b"\x03")) + _ld(3, b"\0" * 8))
            ),
            r"'x'.*shape \[3\] needs 3 values.*2",
        ),
        (
            _ld(2, _ld(1, b"x") + _ld(2, b"\x08\x01" + _ld(3, b"\0" * 7))),
            r"'x'.*7 bytes.*multiple of 4",
        ),
    ],
)
def test_tf_malformed(body, pattern):
    with pytest.raises(WireError, match=pattern):
        parse_tf_request(body)


def test_tf_response_encodes_every_carried_dtype():
    outputs = {
        "f": np.ones((2, 3), np.float32),
        "h": np.array([0.5], np.float16),
        "c": np.array([1 - 1j], np.complex128),
        "b": np.array([True, False]),
        "u": np.array([7], np.uint32),  # widened to int64 (TF has no uint32)
        "s": np.array([b"x", b"yz"], dtype=object),
    }
    resp = TFResponse(encode_tf_response(outputs))
    for k, v in outputs.items():
        np.testing.assert_array_equal(resp[k], v)
    assert resp["u"].dtype == np.int64
    pb = tf_predict_pb2.PredictResponse.FromString(encode_tf_response(outputs))
    assert list(pb.outputs["f"].array_shape.dim) == [2, 3] and pb.outputs["b"].bool_val == [
        True,
        False,
    ]


def test_torch_request_plain_and_snappy():
    req = (
        TorchRequest().add_feed(0, np.ones((1, 3), np.float32)).add_feed(1, np.array([5], np.int64))
    )
    req.add_feed_map("m", np.array([1, 2], np.uint8)).add_fetch(1)
    req.set_debug_level(3)
    plain = req.to_string()
    for body in (plain, bytes(cramjam.snappy.compress_raw(plain))):
        data = parse_torch_request(body)
        assert [a.tolist() for a in data.inputs] == [[[1.0, 1.0, 1.0]], [5]]
        assert data.map_inputs["m"].dtype == np.uint8
        assert data.output_filter == [1] and data.debug_level == 3
    pb = torch_predict_pb2.PredictRequest.FromString(plain)
    assert pb.debug_level == 3 and list(pb.output_filter) == [1]


def test_torch_garbage_names_both_attempts():
    with pytest.raises(WireError, match="not a PyTorch PredictRequest"):
        parse_torch_request(b"\x0f\xff\xff\xff")


def test_torch_response_round_trip():
    resp = TorchResponse(
        encode_torch_response([np.eye(2, dtype=np.float64)], {"mask": np.array([True, False])})
    )
    np.testing.assert_array_equal(resp[0], np.eye(2))
    assert resp["mask"].dtype == np.uint8 and resp["mask"].tolist() == [1, 0]
    assert resp.get_values_map("mask") == [1, 0]


def test_blade_request_parse():
    req = (
        BladeRequest("sig")
        .add_feed("a", 2, np.zeros((2, 3), np.float32))
        .add_feed("s", 1, np.array(["q"]))
    )
    req.add_fetch("out", BladeRequest.DT_INT64)
    data = parse_blade_request(req.to_string())
    assert data.signature_name == "sig"
    assert data.inputs["a"].shape == (2, 3) and data.batch_sizes == {"a": 2, "s": 1}
    assert data.inputs["s"].tolist() == [b"q"]
    assert data.output_info == [("out", BladeRequest.DT_INT64)]
    tf_style = parse_blade_request(
        BladeTFRequest("x").add_feed("i", np.array([[1, 2]], np.int32)).add_fetch("o").to_string()
    )
    assert tf_style.batch_sizes == {"i": 1} and tf_style.output_info == [("o", 0)]
    assert tf_style.inputs["i"].dtype == np.int32


def test_blade_missing_required_batchsize():
    array = _ld(1, b"x") + _ld(2, b"x") + _ld(4, _ld(1, b"\x01")) + _ld(5, struct.pack("<f", 1.0))
    with pytest.raises(WireError, match=r"not a Blade Request.*'x' lacks the required batchsize"):
        parse_blade_request(_ld(2, array))


def test_blade_response_round_trip_casts_to_blade_types():
    body = encode_blade_response(
        {"p": np.ones((1, 2), np.float64), "k": np.array([[1]], np.int8), "big": np.array([2**40])}
    )
    resp = BladeResponse(body)
    assert (
        resp["p"].dtype == np.float32
        and resp["k"].dtype == np.int32
        and resp["big"].dtype == np.int64
    )
    assert resp.get_batch_size("p") == 1


def test_onnx_round_trip_and_errors():
    x = np.arange(6, dtype=np.float16).reshape(2, 3)
    data = parse_onnx_request(OnnxRequest.from_numpy({"x": x, "b": np.array([True])}).to_string())
    np.testing.assert_array_equal(data["x"], x)
    assert data["b"].dtype == np.bool_
    resp = OnnxResponse(encode_onnx_response({"y": np.array([1, 2], np.uint64)}))
    assert resp["y"].dtype == np.uint64 and resp[0].tolist() == [1, 2]
    with pytest.raises(WireError, match=r"ONNX request.*'t'.*unsupported data_type 8"):
        parse_onnx_request(_ld(1, _ld(1, b"t") + b"\x18\x08"))
    with pytest.raises(WireError, match=r"'t'.*dims \[3\] need 3 values.*holds 1"):
        parse_onnx_request(_ld(1, _ld(1, b"t") + _ld(2, b"\x03") + b"\x18\x01" + _ld(5, b"\0" * 4)))
    with pytest.raises(WireError, match="cannot carry dtype complex64"):
        encode_onnx_response({"c": np.zeros(1, np.complex64)})


def test_caffe_round_trip():
    req = (
        CaffeRequest()
        .add_feed("data", np.ones((1, 2), np.float32))
        .add_feed("im_info", [3], [1.0, 2.0, 3.0])
        .add_fetch("prob")
    )
    data = parse_caffe_request(req.to_string())
    assert list(data.inputs) == ["data", "im_info"] and data.output_filter == ["prob"]
    assert data.inputs["im_info"].tolist() == [1.0, 2.0, 3.0]
    resp = CaffeResponse(encode_caffe_response({"prob": np.array([[0.25, 0.75]])}))
    assert resp["prob"].dtype == np.float32 and resp.get_tensor_shape("prob") == [1, 2]


def test_caffe_takes_big_endian_and_strided_float32():
    # '>f4' is float32 too: it is sent in the wire's little-endian order, not refused.
    x = np.arange(12, dtype=">f4").reshape(3, 4)[:, ::2]
    data = parse_caffe_request(CaffeRequest().add_feed("data", x).to_string())
    got = data.inputs["data"]
    assert got.dtype == np.float32 and got.shape == (3, 2)
    assert got.tolist() == x.astype(np.float32).tolist()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


@pytest.mark.parametrize("count", [1, 3, 6, 40, 200])
def test_packed_varints_decode_the_same_short_and_long(count):
    """Short fields (shapes) take a plain-Python loop, long ones numpy: same numbers, same errors."""
    from easlab.wire.base import WireError, decode_varints

    rng = np.random.default_rng(count)
    values = [0, 1, 127, 128, 300, 2**31, 2**63 - 1, 2**64 - 1]
    values += [int(v) for v in rng.integers(0, 2**63, size=count)]
    values = values[:count]
    data = b"ab" + b"".join(_varint(v) for v in values) + b"cd"
    got = decode_varints(data, 2, len(data) - 2)
    assert got.dtype == np.uint64 and got.tolist() == values
    for bad, message in ((data[2:-3] + b"\x80", "truncated"), (b"\xff" * 11 + b"\x01", "longer")):
        with pytest.raises(WireError, match=message):
            decode_varints(bad, 0, len(bad))

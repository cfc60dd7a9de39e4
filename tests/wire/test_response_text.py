"""Response text forms (``to_string``) and the pb2 fallback for unpacked Blade fields."""

from __future__ import annotations

import struct

import numpy as np

import easlab
from easlab.wire.blade import encode_blade_response, parse_blade_request
from easlab.wire.proto import blade_pb2
from easlab.wire.tf import encode_tf_response
from easlab.wire.torch import encode_torch_response


def test_every_tensor_response_renders_protobuf_text_and_a_short_repr():
    y = np.ones((1, 2), np.float32)
    tf = easlab.TFResponse(encode_tf_response({"y": y}))
    torch = easlab.TorchResponse(encode_torch_response([y]))
    blade = easlab.BladeResponse(encode_blade_response({"y": y}))
    assert 'key: "y"' in tf.to_string() and str(tf) == tf.to_string()
    assert "dtype: DT_FLOAT" in str(torch)
    assert 'name_in_dl_model: "y"' in blade.to_string()
    assert [repr(r) for r in (tf, torch, blade)] == [
        "TFResponse(outputs=['y'])",
        "TorchResponse(outputs=[0])",
        "BladeResponse(outputs=['y'])",
    ]


def test_blade_text_renders_a_message_missing_a_required_field():
    msg = blade_pb2.Response()
    out = msg.outputs.add()
    out.name_in_dl_model = "z"
    out.float_val.extend([1.0])  # no batchsize: proto2 says required
    assert 'name_in_dl_model: "z"' in str(easlab.BladeResponse(msg.SerializePartialToString()))


def _unpacked_blade_request() -> bytes:
    """A blade.Request whose float_val is written unpacked (legal protobuf, field 5 wire type 5)."""
    array = b"\x12\x01x" + b"\x18\x02"  # name_in_dl_model="x", batchsize=2
    array += b"\x22\x02\x08\x02"  # shape { dim: 2 }
    for v in (1.5, -2.0):
        array += b"\x2d" + struct.pack("<f", v)
    return b"\x12" + bytes([len(array)]) + array


def test_unpacked_blade_fields_are_read_through_the_generated_parser():
    data = _unpacked_blade_request()
    reference = blade_pb2.Request.FromString(data)
    assert list(reference.inputs[0].float_val) == [1.5, -2.0]
    parsed = parse_blade_request(data)
    np.testing.assert_array_equal(parsed.inputs["x"], np.array([1.5, -2.0], np.float32))
    assert parsed.batch_sizes["x"] == 2

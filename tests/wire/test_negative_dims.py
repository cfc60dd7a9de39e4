"""A request shape with a negative dimension is refused by the decoder.

SPEC §1: ``-1`` is the batch dimension of a *signature*; a request carries its
array's real shape. Two negative dims can multiply to the value count
(``[-2, -2]`` with 4 values), which once passed the count check and made
``np.reshape`` raise a plain ValueError: here every format answers its own
``InconsistentMessage`` naming the input and the dims instead.
"""

from __future__ import annotations

import pytest

from easlab.wire.base import InconsistentMessage
from easlab.wire.blade import parse_blade_request
from easlab.wire.caffe import parse_caffe_request
from easlab.wire.onnx import parse_onnx_request
from easlab.wire.proto import (
    blade_pb2,
    caffe_predict_pb2,
    onnx_predict_pb2,
    tf_predict_pb2,
    torch_predict_pb2,
)
from easlab.wire.tf import parse_tf_request
from easlab.wire.torch import parse_torch_request

# (dims, value count): each passes "product of dims == count" or holds a single -1
CASES = [([-2, -2], 4), ([0, -5], 0), ([-1, -4], 4), ([-1, 4], 4), ([-1], 1), ([-1, 0], 0)]


def tf_body(dims: list[int], count: int) -> bytes:
    req = tf_predict_pb2.PredictRequest(signature_name="serving_default")
    x = req.inputs["x"]
    x.dtype = 1
    x.array_shape.dim.extend(dims)
    x.float_val.extend([1.0] * count)
    return req.SerializeToString()


def torch_body(dims: list[int], count: int) -> bytes:
    req = torch_predict_pb2.PredictRequest()
    x = req.inputs.add()
    x.dtype = 1
    x.array_shape.dim.extend(dims)
    x.float_val.extend([1.0] * count)
    return req.SerializeToString()


def onnx_body(dims: list[int], count: int) -> bytes:
    req = onnx_predict_pb2.DataProto()
    t = req.tensors.add(name="x", data_type=1, raw_data=b"\0" * 4 * count)
    t.dims.extend(dims)
    return req.SerializeToString()


def blade_body(dims: list[int], count: int) -> bytes:
    req = blade_pb2.Request()
    x = req.inputs.add(name_in_dl_model="x", batchsize=1)
    x.shape.dim.extend(dims)
    x.float_val.extend([1.0] * count)
    return req.SerializeToString()


def caffe_body(dims: list[int], count: int) -> bytes:
    req = caffe_predict_pb2.PredictRequest(input_name=["x"])
    x = req.input_data.add()
    x.shape.dim.extend(dims)
    x.data.extend([1.0] * count)
    return req.SerializeToString()


@pytest.mark.parametrize("dims, count", CASES)
def test_tf_refuses_a_negative_dimension_naming_the_input(dims, count):
    with pytest.raises(InconsistentMessage) as info:
        parse_tf_request(tf_body(dims, count))
    assert f"input 'x': dims {dims}: a dimension cannot be negative" in str(info.value)


@pytest.mark.parametrize("dims, count", CASES)
def test_torch_refuses_a_negative_dimension(dims, count):
    with pytest.raises(InconsistentMessage, match=r"input 0: dims \[.*\]: a dimension cannot"):
        parse_torch_request(torch_body(dims, count))


@pytest.mark.parametrize("dims, count", CASES)
def test_onnx_refuses_a_negative_dimension(dims, count):
    with pytest.raises(InconsistentMessage) as info:
        parse_onnx_request(onnx_body(dims, count))
    assert f"'x': dims {dims}: a dimension cannot be negative" in str(info.value)


@pytest.mark.parametrize(
    "parse, make", [(parse_blade_request, blade_body), (parse_caffe_request, caffe_body)]
)
def test_blade_and_caffe_refuse_two_negative_dimensions(parse, make):
    with pytest.raises(
        ValueError, match=r"dims \[-2, -2\]: a dimension cannot be negative"
    ) as info:
        parse(make([-2, -2], 4))
    assert type(info.value) is not ValueError  # the wire's own error, never numpy's


def test_the_unpacked_fallback_refuses_it_too():
    """A body the fast reader hands to the generated module (unpacked dims) meets the same check."""
    shape = b"".join(b"\x08" + _varint(-2) for _ in range(2))  # ArrayShape.dim, unpacked
    array = b"\x08\x01" + b"\x12" + bytes([len(shape)]) + shape
    array += b"\x1d\0\0\0\0" * 4  # float_val unpacked: the generated module reads it
    entry = b"\x0a\x01x" + b"\x12" + bytes([len(array)]) + array
    body = b"\x12" + bytes([len(entry)]) + entry
    assert list(tf_predict_pb2.PredictRequest.FromString(body).inputs["x"].array_shape.dim) == [
        -2,
        -2,
    ]
    with pytest.raises(InconsistentMessage, match=r"dims \[-2, -2\]: a dimension cannot"):
        parse_tf_request(body)


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def test_concrete_shapes_still_decode():
    assert parse_tf_request(tf_body([2, 2], 4)).inputs["x"].shape == (2, 2)
    assert parse_tf_request(tf_body([0, 5], 0)).inputs["x"].shape == (0, 5)
    assert parse_onnx_request(onnx_body([1, 4], 4))["x"].shape == (1, 4)

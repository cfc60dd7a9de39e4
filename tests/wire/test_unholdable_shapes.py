"""A request shape numpy cannot hold is refused by the decoder, naming the input.

A shape with a zero dimension carries no values, so ``[0, 2**63 - 1]`` passes
the "product of dims == value count" check, and so do 70 dims of 1 with one
value; ``np.reshape`` then raised a plain ValueError ("array is too big",
"maximum supported dimension") that named no input and reached the caller as
a processor crash with a traceback in the service log. Every format now
answers its ``InconsistentMessage``. A body may also declare a million dims
(one byte each): the message shows the first few, never the whole list.
"""

from __future__ import annotations

import pytest

from easlab.wire.base import InconsistentMessage
from easlab.wire.blade import parse_blade_request
from easlab.wire.caffe import parse_caffe_request
from easlab.wire.onnx import parse_onnx_request
from easlab.wire.tf import parse_tf_request
from easlab.wire.torch import parse_torch_request
from tests.wire.test_negative_dims import (
    blade_body,
    caffe_body,
    onnx_body,
    tf_body,
    torch_body,
)

FORMATS = [
    (parse_tf_request, tf_body, "input 'x'"),
    (parse_torch_request, torch_body, "input 0"),
    (parse_onnx_request, onnx_body, "'x'"),
    (parse_blade_request, blade_body, "input 'x'"),
    (parse_caffe_request, caffe_body, "input 'x'"),
]

# (dims, value count, what the message says): each passes the count check
TOO_BIG = [
    ([0, 2**63 - 1], 0, "multiply past what an array can address"),
    ([2**40, 0, 2**40], 0, "multiply past what an array can address"),
    ([1] * 70, 1, "it has 70 dimensions, an array at most 64"),
]


@pytest.mark.parametrize("parse, make, label", FORMATS)
@pytest.mark.parametrize("dims, count, why", TOO_BIG)
def test_a_shape_numpy_cannot_hold_is_the_formats_own_error(parse, make, label, dims, count, why):
    with pytest.raises(InconsistentMessage) as info:
        parse(make(dims, count))
    message = str(info.value)
    assert f"{label}: shape [" in message
    assert why in message
    assert "send the array's real shape" in message


@pytest.mark.parametrize("parse, make, label", FORMATS)
def test_a_million_dims_are_not_echoed_back(parse, make, label):
    with pytest.raises(InconsistentMessage) as info:
        parse(make([1] * 1_000_000 + [4], 4))
    message = str(info.value)
    assert "... (1000001 dims)]" in message
    assert len(message) < 400


def test_a_blade_shape_mismatch_says_the_body_is_a_blade_request():
    """It was "body is not a Blade Request: input 'x': shape ... needs ... values": the
    body is one, it contradicts itself."""
    with pytest.raises(InconsistentMessage) as info:
        parse_blade_request(blade_body([1000000000, 1000], 2))
    assert str(info.value) == (
        "Blade Request is inconsistent: input 'x': shape [1000000000, 1000] needs "
        "1000000000000 values, the message carries 2"
    )


def test_a_caffe_shape_with_unpacked_negative_dims_reads_them_as_negative():
    """Unpacked dims (legal protobuf) were read as unsigned: -2 became 2**64 - 2, and the
    message showed 18446744073709551614 instead of the dimension the client sent."""
    from tests.wire.test_negative_dims import _varint

    shape = b"".join(b"\x08" + _varint(-2) for _ in range(2))  # ArrayShape.dim, unpacked
    blob = b"\x0a" + bytes([len(shape)]) + shape + b"\x12\x10" + b"\0" * 16  # 4 floats
    body = b"\x0a\x01x" + b"\x12" + bytes([len(blob)]) + blob
    with pytest.raises(InconsistentMessage, match=r"dims \[-2, -2\]: a dimension cannot"):
        parse_caffe_request(body)

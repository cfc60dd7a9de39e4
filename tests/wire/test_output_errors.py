"""An answer's output that its wire format cannot carry: a WireError naming the output."""

from __future__ import annotations

import numpy as np
import pytest

from easlab.wire.base import WireError
from easlab.wire.blade import encode_blade_response
from easlab.wire.caffe import CaffeResponse, encode_caffe_response
from easlab.wire.tf import TFResponse, encode_tf_response
from easlab.wire.torch import encode_torch_response


@pytest.mark.parametrize(
    "value",
    [np.array(["a", "b"]), np.array(["x"], dtype=object), np.array([{"k": 1}], dtype=object)],
    ids=["str", "object-str", "dict"],
)
def test_caffe_names_an_output_that_is_no_number(value):
    with pytest.raises(WireError) as err:
        encode_caffe_response({"prob": np.ones(2, np.float32), "label": value})
    message = str(err.value)
    assert "output 'label'" in message
    assert "carries float32 only" in message and str(value.dtype) in message


def test_caffe_still_casts_numbers_and_numbers_held_as_objects():
    body = encode_caffe_response(
        {"a": np.array([1, 2], np.int64), "b": np.array([0.5, 1], dtype=object)}
    )
    resp = CaffeResponse(body)
    assert resp["a"].tolist() == [1.0, 2.0] and resp["b"].tolist() == [0.5, 1.0]


@pytest.mark.parametrize(
    ("encode", "fmt"),
    [
        (lambda out: encode_tf_response({"probs": out}), "TensorFlow"),
        (lambda out: encode_torch_response([], {"probs": out}), "PyTorch"),
        (lambda out: encode_blade_response({"probs": out}), "Blade"),
    ],
    ids=["tf", "torch", "blade"],
)
def test_a_text_output_holding_objects_names_the_output_and_what_the_format_carries(encode, fmt):
    # an ONNX ZipMap gives a list of dicts: no string_val holds one
    zipmap = np.array([{0: 0.25, 1: 0.75}, {0: 1.0, 1: 0.0}], dtype=object)
    with pytest.raises(WireError) as err:
        encode(zipmap)
    message = str(err.value)
    assert message.startswith("output 'probs': element 0 is dict")
    assert f"the {fmt} format carries numbers, bool and str/bytes" in message
    assert "input" not in message


def test_text_outputs_still_go_out_whole():
    body = encode_tf_response({"words": np.array(["héllo", b"a\x00b"], dtype=object)})
    assert TFResponse(body)["words"].tolist() == ["héllo".encode(), b"a\x00b"]

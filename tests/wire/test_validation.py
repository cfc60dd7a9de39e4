"""Requests are checked before sending: each error names the input and what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from easlab.errors import ContentTypeError, DTypeError, RequestError, ShapeError
from easlab.wire.blade import BladeRequest, BladeTFRequest
from easlab.wire.caffe import CaffeRequest
from easlab.wire.onnx import OnnxRequest
from easlab.wire.tf import TFRequest
from easlab.wire.torch import TorchRequest


def test_manual_blade_example_content_length():
    # The manual's Blade example: shape [1, 360, 128] (46080 values) with 85680 values.
    req = BladeRequest()
    with pytest.raises(
        ShapeError, match=r"'input_data'.*\[1, 360, 128\] holds 46080 values.*85680"
    ):
        req.add_feed("input_data", 1, [1, 360, 128], BladeRequest.DT_FLOAT, [0.8] * 85680)


@pytest.mark.parametrize(
    "make",
    [
        lambda: TFRequest("s").add_feed("images", [1, 784], TFRequest.DT_FLOAT, [1.0] * 783),
        lambda: TorchRequest().add_feed(0, [2, 2], TorchRequest.DT_INT64, [1, 2, 3]),
        lambda: BladeTFRequest("s").add_feed("images", [2, 2], BladeTFRequest.DT_INT32, [1]),
        lambda: CaffeRequest().add_feed("images", [3], [1.0]),
    ],
)
def test_content_length_must_match_shape(make):
    with pytest.raises(ShapeError, match="images|input 0|'0'"):
        make()


@pytest.mark.parametrize(
    "shape, word", [([1, -1], "negative"), ([1, 2.5], "non-integer"), ("12", "shape")]
)
def test_bad_dims(shape, word):
    with pytest.raises(ShapeError, match=rf"'x'.*{word}"):
        TFRequest("s").add_feed("x", shape, TFRequest.DT_FLOAT, [1.0])


def test_float_dims_that_are_integers_pass():
    body = TFRequest("s").add_feed("x", [1.0, 2.0], TFRequest.DT_FLOAT, [1.0, 2.0]).to_string()
    assert body == TFRequest("s").add_feed("x", [1, 2], TFRequest.DT_FLOAT, [1.0, 2.0]).to_string()


@pytest.mark.parametrize("dtype", ["uint32", "uint64"])
def test_tf_refuses_unsigned_32_64(dtype):
    with pytest.raises(DTypeError, match=rf"'big'.*TensorFlow.*{dtype}.*astype"):
        TFRequest("s").add_feed("big", np.zeros(3, dtype))


@pytest.mark.parametrize(
    "make, pattern",
    [
        (
            lambda: BladeRequest().add_feed("h", 1, np.zeros((1, 2), np.float16)),
            r"'h'.*Blade.*float16",
        ),
        (
            lambda: BladeRequest().add_feed("c", 1, np.zeros(2, np.complex64)),
            r"'c'.*Blade.*complex64",
        ),
        (
            lambda: BladeRequest().add_feed("d", 1, np.zeros(2, np.float64)),
            r"'d'.*Blade.*float64.*astype",
        ),
        (lambda: CaffeRequest().add_feed("h", np.zeros(2, np.float16)), r"'h'.*Caffe.*float16"),
        (lambda: OnnxRequest().add_feed("c", np.zeros(2, np.complex128)), r"'c'.*ONNX.*complex128"),
        (lambda: OnnxRequest().add_feed("s", np.array(["a"])), r"'s'.*ONNX"),
        (lambda: TorchRequest().add_feed(0, np.array([True])), r"'0'.*PyTorch.*bool.*uint8"),
        (lambda: TFRequest("s").add_feed("q", [1], 20, [1]), r"'q'.*DT_RESOURCE"),
        (
            lambda: TFRequest("s").add_feed("o", np.array([{}], dtype=object)),
            r"'o'.*element 0.*dict",
        ),
    ],
)
def test_dtype_the_format_cannot_carry(make, pattern):
    with pytest.raises(DTypeError, match=pattern):
        make()


@pytest.mark.parametrize(
    "content, pattern",
    [
        ([1.5, 2.0], r"'x'.*non-integer"),
        ([300, 1], r"'x'.*300.*int8"),
        (["a", "b"], r"'x'.*<U1.*int8"),
    ],
)
def test_content_that_does_not_fit_the_dtype(content, pattern):
    with pytest.raises(DTypeError, match=pattern):
        TFRequest("s").add_feed("x", [2], TFRequest.DT_INT8, content)


def test_second_feed_of_same_tf_name_is_refused():
    req = TFRequest("s").add_feed("x", [1], TFRequest.DT_FLOAT, [1.0])
    with pytest.raises(RequestError, match=r"'x' was already added.*concatenate"):
        req.add_feed("x", [1], TFRequest.DT_FLOAT, [2.0])


def test_torch_index_gap_at_to_string():
    req = TorchRequest().add_feed(2, np.zeros(1, np.float32))
    req.add_feed(0, np.zeros(1, np.float32))
    with pytest.raises(RequestError, match=r"inputs \[1\] were never fed.*input 2"):
        req.to_string()
    req.add_feed(1, np.zeros(1, np.float32))
    assert req.to_string()  # gap filled: feeds in any order are fine


def test_torch_bad_index_and_duplicate():
    with pytest.raises(RequestError, match="int >= 0"):
        TorchRequest().add_feed(-1, np.zeros(1, np.float32))
    req = TorchRequest().add_feed(0, np.zeros(1, np.float32))
    with pytest.raises(RequestError, match="input 0 was already added"):
        req.add_feed(0, np.zeros(1, np.float32))


def test_blade_checks():
    with pytest.raises(ShapeError, match=r"'x'.*batch_size.*0"):
        BladeRequest().add_feed("x", 0, [1], BladeRequest.DT_FLOAT, [1.0])
    with pytest.raises(RequestError, match="non-empty"):
        BladeRequest().add_feed("", 1, [1], BladeRequest.DT_FLOAT, [1.0])
    with pytest.raises(DTypeError, match=r"'x'.*DT_FLOAT, DT_INT32"):
        BladeRequest().add_feed("x", 1, [1], 9, [1.0])
    with pytest.raises(DTypeError, match=r"'y'.*unknown Blade dtype"):
        BladeRequest().add_fetch("y", 42)


def test_onnx_add_tensor_checks_raw_size():
    class Tensor:
        name = "t"
        dims = [2, 2]
        data_type = 1
        raw_data = b"\x00" * 12

    with pytest.raises(RequestError, match=r"'t'.*need 16 bytes.*got 12"):
        OnnxRequest().add_tensor(Tensor())


def test_errors_are_value_errors():
    assert issubclass(ShapeError, ValueError) and issubclass(DTypeError, ValueError)


@pytest.mark.parametrize(
    "make",
    [
        lambda: TFRequest("s").add_feed("t", [2], TFRequest.DT_STRING, ["ok", "a\ud800"]),
        lambda: TFRequest("s").add_feed("t", np.array(["ok", "a\ud800"], dtype=object)),
        lambda: TorchRequest().add_feed(0, np.array(["ok", "a\ud800"])),
        lambda: BladeRequest().add_feed("t", 1, [2], BladeRequest.DT_STRING, ["ok", "a\ud800"]),
    ],
)
def test_a_str_with_a_lone_surrogate_names_the_input_and_element(make):
    # "a\ud800" (e.g. a file name read with surrogateescape) has no UTF-8 form: the
    # caller got a bare UnicodeEncodeError that named neither the input nor the element.
    with pytest.raises(ContentTypeError, match=r"input '(t|0)': element \d \('a\\ud800'\)"):
        make()

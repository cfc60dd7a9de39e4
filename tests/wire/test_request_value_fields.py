"""A request tensor's values lie in the field its dtype travels in, and each input comes once.

SPEC §3: each dtype has one value field (DT_FLOAT ``float_val``, DT_INT64
``int64_val`` ...). The decoder reads that field only, so a careless client's
values in another field were read as none ("needs 4 values, the message carries
0", though it carries 4), and values in two fields were half dropped: the model
ran on the ``float_val`` of a tensor whose ``double_val`` the client also
filled. A map input given twice kept the last entry, silently. Each is now the
format's ``InconsistentMessage`` naming the input and the fields. Responses are
read as they come (the client side is lenient).
"""

from __future__ import annotations

import numpy as np
import pytest

from easlab.wire.base import InconsistentMessage
from easlab.wire.proto import tf_predict_pb2, torch_predict_pb2
from easlab.wire.tf import TFResponse, parse_tf_request
from easlab.wire.torch import parse_torch_request


def tf_body(dtype: int, **fields: list) -> bytes:
    req = tf_predict_pb2.PredictRequest(signature_name="serving_default")
    x = req.inputs["x"]
    x.dtype = dtype
    x.array_shape.dim.extend([1, 4])
    for name, values in fields.items():
        getattr(x, name).extend(values)
    return req.SerializeToString()


def torch_body(dtype: int, **fields: list) -> bytes:
    req = torch_predict_pb2.PredictRequest()
    x = req.inputs.add()
    x.dtype = dtype
    x.array_shape.dim.extend([1, 4])
    for name, values in fields.items():
        getattr(x, name).extend(values)
    return req.SerializeToString()


FOUR = [1, 2, 3, 4]


@pytest.mark.parametrize("body, label", [(tf_body, "input 'x'"), (torch_body, "input 0")])
def test_values_in_another_field_than_the_dtypes_say_where_they_are(body, label):
    with pytest.raises(InconsistentMessage) as info:
        parse = parse_tf_request if body is tf_body else parse_torch_request
        parse(body(1, int_val=FOUR))  # DT_FLOAT, values in int_val
    assert f"{label}: DT_FLOAT values travel in float_val, but this tensor's are in int_val" in (
        str(info.value)
    )
    assert "carries 0" not in str(info.value)


@pytest.mark.parametrize("body, label", [(tf_body, "input 'x'"), (torch_body, "input 0")])
def test_values_in_two_fields_are_refused_not_half_read(body, label):
    parse = parse_tf_request if body is tf_body else parse_torch_request
    with pytest.raises(InconsistentMessage) as info:
        parse(body(1, float_val=FOUR, double_val=[9, 9, 9, 9]))
    assert (
        f"{label}: values in float_val and double_val; a DT_FLOAT tensor's values travel "
        "in float_val only"
    ) in str(info.value)
    with pytest.raises(InconsistentMessage, match="values in int_val and string_val"):
        parse(body(9, int_val=FOUR, string_val=[b"a"] * 4))  # DT_INT64: neither is its field


def test_values_in_two_fields_without_a_dtype_ask_for_one():
    with pytest.raises(InconsistentMessage) as info:
        parse_tf_request(tf_body(0, float_val=FOUR, int64_val=FOUR))
    assert "input 'x': values in float_val and int64_val and no dtype" in str(info.value)


def test_the_unpacked_fallback_is_held_to_it_too():
    """A body only the generated module reads (unpacked floats) meets the same check."""
    # DT_FLOAT [1, 1], an unpacked float_val (field 3, fixed32) and an int64_val (field 7)
    value = b"\x08\x01" + b"\x12\x04\x0a\x02\x01\x01" + b"\x1d\x00\x00\x80\x3f" + b"\x38\x07"
    entry = b"\x0a\x01x\x12" + bytes([len(value)]) + value
    body = b"\x12" + bytes([len(entry)]) + entry
    assert list(tf_predict_pb2.PredictRequest.FromString(body).inputs["x"].float_val) == [1.0]
    with pytest.raises(InconsistentMessage, match="values in float_val and int64_val"):
        parse_tf_request(body)


def test_values_where_the_dtype_says_still_decode():
    assert parse_tf_request(tf_body(1, float_val=FOUR)).inputs["x"].tolist() == [FOUR]
    assert parse_tf_request(tf_body(9, int64_val=FOUR)).inputs["x"].dtype == np.int64
    assert parse_tf_request(tf_body(0, float_val=FOUR)).inputs["x"].dtype == np.float32
    # a response is read as it comes: the server on the other end is not ours to refuse
    resp = tf_predict_pb2.PredictResponse()
    y = resp.outputs["y"]
    y.dtype, y.array_shape.dim[:] = 1, [1]
    y.float_val.append(1.0)
    y.double_val.append(2.0)
    assert TFResponse(resp.SerializeToString())["y"].tolist() == [1.0]


def _entry(key: str, values: list[float]) -> bytes:
    req = tf_predict_pb2.PredictRequest()
    x = req.inputs[key]
    x.dtype = 1
    x.array_shape.dim.extend([1, len(values)])
    x.float_val.extend(values)
    return req.SerializeToString()


def test_a_tf_input_given_twice_is_refused():
    """Two map entries for 'x' (two serialized requests concatenated, a hand-built body):
    protobuf keeps the last one, and the model ran on it without a word."""
    body = _entry("x", FOUR) + _entry("x", [5, 6, 7, 8])
    assert list(tf_predict_pb2.PredictRequest.FromString(body).inputs["x"].float_val) == [
        5,
        6,
        7,
        8,
    ]
    with pytest.raises(InconsistentMessage) as info:
        parse_tf_request(body)
    assert str(info.value) == (
        "TensorFlow PredictRequest is inconsistent: input 'x' appears twice; send each input once"
    )
    assert set(parse_tf_request(_entry("x", FOUR) + _entry("y", FOUR)).inputs) == {"x", "y"}


def test_a_torch_map_input_given_twice_is_refused():
    req = torch_predict_pb2.PredictRequest()
    req.map_inputs["a"].array_shape.dim.append(1)
    req.map_inputs["a"].dtype = 1
    req.map_inputs["a"].float_val.append(1.0)
    once = req.SerializeToString()
    with pytest.raises(InconsistentMessage, match="map input 'a' appears twice"):
        parse_torch_request(once + once)


def test_a_field_written_empty_holds_no_values():
    """proto3 never writes an empty packed field, but a hand-rolled encoder may: an empty
    double_val beside a DT_FLOAT tensor's float_val is no second field of values."""
    floats = np.array(FOUR, "<f4").tobytes()
    array = b"\x08\x01" + b"\x12\x04\x0a\x02\x01\x04" + b"\x22\x00" + b"\x1a\x10" + floats
    entry = b"\x0a\x01x\x12" + bytes([len(array)]) + array
    body = b"\x12" + bytes([len(entry)]) + entry
    assert tf_predict_pb2.PredictRequest.FromString(body).inputs["x"].float_val[:] == FOUR
    assert parse_tf_request(body).inputs["x"].tolist() == [FOUR]


def test_a_blade_input_in_two_value_fields_says_the_body_is_a_blade_request():
    """It was "body is not a Blade Request: input 'x' fills several value fields": the
    body is one, and contradicts itself."""
    from easlab.wire.blade import parse_blade_request
    from easlab.wire.proto import blade_pb2

    req = blade_pb2.Request()
    x = req.inputs.add(name_in_dl_model="x", batchsize=1)
    x.shape.dim.extend([1, 4])
    x.float_val.extend(FOUR)
    x.int_val.extend([1, 2, 3, 4])
    with pytest.raises(InconsistentMessage) as info:
        parse_blade_request(req.SerializeToString())
    assert str(info.value).startswith(
        "Blade Request is inconsistent: input 'x' fills several value fields "
        "(['DT_FLOAT', 'DT_INT32']); send its values in the one field of their dtype"
    )


@pytest.mark.parametrize(
    "parse, body, label, code, name",
    [
        (parse_tf_request, tf_body, "input 'x'", 55, "55"),
        (parse_tf_request, tf_body, "input 'x'", 20, "DT_RESOURCE"),
        (parse_torch_request, torch_body, "input 0", 10, "DT_BOOL"),  # Torch has no bool_val
    ],
)
def test_a_dtype_the_format_does_not_carry_is_refused(parse, body, label, code, name):
    """The values were read from whatever field held them, as if no dtype were given: a
    dtype 55 tensor of float_val ran as DT_FLOAT."""
    with pytest.raises(InconsistentMessage) as info:
        parse(body(code, float_val=FOUR))
    assert f"{label}: dtype {name} is not one this format carries; send one of DT_FLOAT," in (
        str(info.value)
    )

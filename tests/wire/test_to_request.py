"""to_request: the one rule from a user value (+ the service's signature) to a request."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from easlab.errors import DTypeError, RequestError, ShapeError
from easlab.wire.build import request_from_signature, to_request
from easlab.wire.json import JsonRequest
from easlab.wire.string import StringRequest
from easlab.wire.tf import TFRequest, parse_tf_request
from easlab.wire.torch import TorchRequest, parse_torch_request

TF_SIG = {
    "signature_name": "serving_default",
    "inputs": [{"name": "x", "shape": [-1, 4], "type": "DT_FLOAT"}],
    "outputs": [{"name": "y", "shape": [-1, 2], "type": "DT_FLOAT"}],
}
PMML_SIG = {"format": "json", "inputs": [{"name": "sex", "type": "double"}], "outputs": []}


class Source:
    """A signature source that counts how often, and how, it was asked."""

    def __init__(self, signature):
        self.signature = signature
        self.asked: list[bool] = []

    def __call__(self, required: bool):
        self.asked.append(required)
        return self.signature


def test_a_dict_against_a_tensor_service_is_a_tensor_request():
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    req = to_request({"x": x}, TF_SIG)
    assert isinstance(req, TFRequest)
    assert req.to_string() == request_from_signature(TF_SIG, {"x": x}).to_string()
    data = parse_tf_request(req.to_string())
    assert data.signature_name == "serving_default"
    np.testing.assert_array_equal(data.inputs["x"], x)
    assert req.named_inputs is not None and req.named_inputs["x"] is x


@pytest.mark.parametrize("signature", [None, PMML_SIG])
def test_a_dict_against_a_service_without_a_tensor_signature_is_json(signature):
    value = {"sex": 1, "x": np.array([1.5, 2.0])}
    req = to_request(value, signature)
    assert isinstance(req, JsonRequest)
    assert json.loads(req.to_string()) == {"sex": 1, "x": [1.5, 2.0]}


def test_lists_and_scalars_take_the_signature_dtype_and_shape():
    nested = to_request({"x": [[1, 2, 3, 4]]}, TF_SIG)
    got = parse_tf_request(nested.to_string()).inputs["x"]
    assert got.dtype == np.float32 and got.shape == (1, 4)
    assert got.tolist() == [[1.0, 2.0, 3.0, 4.0]]
    # a flat list takes the declared shape, as the official client's flat add_feed values
    flat = parse_tf_request(to_request({"x": [1, 2, 3, 4, 5, 6, 7, 8]}, TF_SIG).to_string())
    assert flat.inputs["x"].shape == (2, 4)
    # a one-input service takes the bare list too
    bare = parse_tf_request(to_request([[0, 0, 0, 1]], TF_SIG).to_string()).inputs["x"]
    assert bare.dtype == np.float32 and bare.tolist() == [[0.0, 0.0, 0.0, 1.0]]
    scalar_sig = {"inputs": [{"name": "k", "shape": [-1], "type": "DT_INT64"}]}
    k = parse_tf_request(to_request({"k": 7}, scalar_sig).to_string()).inputs["k"]
    assert k.dtype == np.int64 and k.tolist() == [7]


@pytest.mark.parametrize(
    ("value", "error", "needle"),
    [
        ({"x": [[1, 2, 3]]}, ShapeError, r"'x'.*expected shape \[-1, 4\].*list of shape \[1, 3\]"),
        ({"x": [1, 2, 3]}, ShapeError, r"'x'.*list of shape \[3\]"),
        ({"x": 5}, ShapeError, r"'x'.*a scalar"),
        ({"x": [["a", "b", "c", "d"]]}, DTypeError, r"'x'.*DT_FLOAT.*str"),
        ({"x": [[1, 2], [3]]}, ShapeError, r"'x'.*cannot make an array"),
    ],
)
def test_a_list_that_cannot_be_converted_is_refused_by_name(value, error, needle):
    with pytest.raises(error, match=needle) as info:
        to_request(value, TF_SIG)
    assert "pass a numpy array" in str(info.value)


def test_integer_inputs_refuse_fractions_and_overflow():
    sig = {"inputs": [{"name": "ids", "shape": [-1], "type": "DT_INT32"}]}
    with pytest.raises(DTypeError, match=r"'ids'.*non-integer.*numpy array"):
        to_request({"ids": [1.5, 2]}, sig)
    with pytest.raises(DTypeError, match=r"'ids'.*do not fit int32"):
        to_request({"ids": [2**40]}, sig)
    ids = parse_tf_request(to_request({"ids": [1.0, 2]}, sig).to_string()).inputs["ids"]
    assert ids.dtype == np.int32 and ids.tolist() == [1, 2]


def test_arrays_keep_their_dtype_intent():
    # an array says what it holds: a float64 array is refused, not silently cast
    with pytest.raises(DTypeError, match=r"'x'.*received float64; cast it"):
        to_request({"x": np.zeros((1, 4))}, TF_SIG)
    # text where numbers go: a cast is not the fix, numbers are
    with pytest.raises(DTypeError, match=r"'x'.*received <U3; this input takes numbers, not text"):
        to_request({"x": np.array([["cat", "dog", "owl", "elk"]])}, TF_SIG)


def test_an_array_of_the_wrong_shape_is_refused_with_the_shape_that_fits():
    # "expected shape [-1, 4] (-1 is any size), received [3, 5]" said what was wrong,
    # not what to pass instead
    with pytest.raises(ShapeError) as info:
        to_request({"x": np.zeros((3, 5), np.float32)}, TF_SIG)
    assert str(info.value) == (
        "input 'x': expected shape [-1, 4] (-1 is any size), received [3, 5]; axis 1 has 5 "
        "where the input takes 4: pass an array of shape [3, 4]"
    )
    # the same values per row in another layout: the reshape that fits
    images = {"inputs": [{"name": "images", "shape": [-1, 784], "type": "DT_FLOAT"}]}
    with pytest.raises(ShapeError) as info:
        to_request({"images": np.zeros((3, 28, 28), np.float32)}, images)
    assert str(info.value).endswith(
        "received [3, 28, 28]; each row holds the right number of values: x.reshape(-1, 784)"
    )


def test_numpy_arrays_need_a_tensor_service():
    source = Source(None)
    with pytest.raises(RequestError, match="numpy inputs need a tensor service"):
        to_request(np.zeros((1, 4), np.float32), source)
    assert source.asked == [True]  # arrays require the signature; dicts only ask for it
    to_request({"a": 1}, source)
    assert source.asked == [True, False]


def test_values_that_need_no_signature_never_require_it():
    source = Source(TF_SIG)
    assert to_request(b"\x00raw", source).to_string() == b"\x00raw"
    assert isinstance(to_request("text", source), StringRequest)
    records = [{"sex": 0}, {"sex": 1}]
    # records against a tensor signature are its inputs, as a DataFrame's rows
    # (test_dataframe_to_tensor.py); these fit no input: refused before sending
    with pytest.raises(RequestError, match=r"the list of dicts has 1 column \(sex\)"):
        to_request(records, source)
    own = TFRequest("s")
    assert to_request(own, source) is own
    # records and DataFrames ask for it, as dicts do (not required): a Seldon service
    # (format "seldon") takes them as data.ndarray with names (easlab/wire/seldon.py),
    # a tensor service a DataFrame's values (test_dataframe_to_tensor.py)
    assert source.asked == [False]
    plain = Source(None)
    assert json.loads(to_request(records, plain).to_string()) == records
    assert json.loads(to_request(pd.DataFrame(records), plain).to_string()) == records
    assert plain.asked == [False, False]


def test_what_nothing_can_send_is_a_type_error():
    for value in ({1, 2}, None, object()):
        with pytest.raises(TypeError, match="cannot send (a |None)"):
            to_request(value, TF_SIG)


def test_other_values_without_a_signature_are_json():
    assert to_request([1, 2, 3], None).to_string() == b"[1,2,3]"
    assert to_request(5, None).to_string() == b"5"
    assert to_request(np.float32(0.5), None).to_string() == b"0.5"


def test_signature_name_and_fetch():
    x = np.zeros((1, 4), np.float32)
    data = parse_tf_request(to_request({"x": x}, TF_SIG, fetch=["y"]).to_string())
    assert (data.signature_name, data.output_filter) == ("serving_default", ["y"])
    # another model signature than the published one: sent unchecked
    other = to_request({"images": np.zeros(3)}, TF_SIG, signature_name="predict_images")
    data = parse_tf_request(other.to_string())
    assert data.signature_name == "predict_images" and data.inputs["images"].shape == (3,)


def test_torch_takes_positional_arrays_or_one_nested_list():
    sig = {"format": "torch", "inputs": [{"name": "0", "shape": [-1, 3], "type": "DT_FLOAT"}]}
    a = np.ones((2, 3), np.float32)
    by_list = to_request([a], sig)
    assert isinstance(by_list, TorchRequest)
    assert to_request({"0": a}, sig).to_string() == by_list.to_string()
    nested = parse_torch_request(to_request([[1, 2, 3]], sig).to_string())
    assert nested.inputs[0].dtype == np.float32 and nested.inputs[0].shape == (1, 3)


def test_json_values_read_as_a_dataframe_sends_them():
    # a dict to a JSON service: nanosecond datetimes went out as bare integers
    # (numpy's tolist), pd.NA was refused, and non-UTF-8 bytes raised a bare
    # UnicodeDecodeError; a DataFrame's same values were ISO text and null
    stamp = np.datetime64("2024-01-01T10:00:00", "ns")
    frame = pd.DataFrame({"t": [pd.Timestamp(stamp)], "n": pd.array([None], dtype="Int64")})
    as_frame = json.loads(to_request(frame).to_string())
    as_dict = json.loads(
        to_request(
            {
                "t": stamp,
                "n": pd.NA,
                "ts": np.array([stamp, "NaT"], "datetime64[ns]"),
                "day": np.datetime64("2024-01-02"),
            }
        ).to_string()
    )
    assert as_frame == [{"t": "2024-01-01T10:00:00", "n": None}]
    assert as_dict == {
        "t": "2024-01-01T10:00:00",
        "n": None,
        "ts": ["2024-01-01T10:00:00", None],
        "day": "2024-01-02",
    }
    with pytest.raises(RequestError, match=r"not UTF-8 .*base64"):
        to_request({"blob": b"\xff\x00"}).to_string()


def test_a_seldon_message_of_datetimes_carries_them_as_text():
    from easlab.wire.seldon import seldon_message

    stamps = np.array([["2024-01-01T10:00:00", "NaT"]], "datetime64[ns]")
    assert seldon_message(stamps) == {"data": {"ndarray": [["2024-01-01T10:00:00", None]]}}
    assert seldon_message(np.ones((1, 2), np.float32)) == {"data": {"ndarray": [[1.0, 1.0]]}}


def test_a_series_is_refused_saying_how_to_send_a_row_or_a_column():
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    for series in (frame.iloc[0], frame["a"]):
        with pytest.raises(TypeError, match=r"pandas Series: pass a row as series.to_frame\(\).T"):
            to_request(series, None)
    row = frame.iloc[0]
    assert json.loads(to_request(row.to_frame().T, None).to_string()) == [{"a": 1.0, "b": 3.0}]


def test_durations_in_a_dict_or_a_seldon_message_go_as_a_dataframe_sends_them():
    # a DataFrame's Timedelta went out as ISO 8601 text; the same duration in a dict
    # was refused ("cannot be sent as JSON": datetime.timedelta, np.timedelta64 in
    # µs) or sent as a bare integer (nanoseconds); months have no fixed length
    import datetime

    from easlab.wire.seldon import seldon_message

    frame = pd.DataFrame({"d": [pd.Timedelta("1.5s"), pd.NaT]})
    assert json.loads(to_request(frame).to_string()) == [{"d": "P0DT0H0M1.5S"}, {"d": None}]
    as_dict = json.loads(
        to_request(
            {
                "us": np.timedelta64(1500, "ms").astype("m8[us]"),
                "ns": np.timedelta64(1500, "ms").astype("m8[ns]"),
                "py": datetime.timedelta(seconds=1.5),
                "many": np.array([1, "NaT"], "m8[s]"),
            }
        ).to_string()
    )
    assert as_dict == {
        "us": "P0DT0H0M1.5S",
        "ns": "P0DT0H0M1.5S",
        "py": "P0DT0H0M1.5S",
        "many": ["P0DT0H0M1S", None],
    }
    waits = np.array([[90, 30]], "m8[s]")
    assert seldon_message(waits) == {"data": {"ndarray": [["P0DT0H1M30S", "P0DT0H0M30S"]]}}
    with pytest.raises(RequestError, match=r"no fixed length .* convert it to days"):
        to_request({"term": np.timedelta64(3, "M")}).to_string()

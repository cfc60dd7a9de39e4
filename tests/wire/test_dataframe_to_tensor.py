"""A DataFrame sent to a tensor service is its inputs' values, not a JSON body.

``%%eas predict`` / ``client.predict(df)`` against an ONNX or Torch service used to
send the frame as JSON, which no tensor processor reads (a 400 about protobuf wire
types). The frame's values go in as arrays of each input's dtype instead.
"""

from __future__ import annotations

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from easlab.errors import DTypeError, RequestError  # noqa: E402
from easlab.wire.build import to_request  # noqa: E402
from easlab.wire.tf import parse_tf_request  # noqa: E402
from easlab.wire.torch import parse_torch_request  # noqa: E402

TF_SIG = {
    "signature_name": "serving_default",
    "inputs": [{"name": "x", "shape": [-1, 4], "type": "DT_FLOAT"}],
    "outputs": [],
    "format": "tf",
}
TWO_INPUTS = {
    "signature_name": "serving_default",
    "inputs": [
        {"name": "age", "shape": [-1], "type": "DT_FLOAT"},
        {"name": "city", "shape": [-1, 1], "type": "DT_INT64"},
    ],
    "outputs": [],
    "format": "tf",
}
TORCH_SIG = {
    "signature_name": "serving_default",
    "inputs": [{"name": "0", "shape": [-1, 3], "type": "DT_FLOAT"}],
    "outputs": [],
    "format": "torch",
}


def test_a_frame_is_the_one_input_of_a_one_input_service():
    frame = pd.DataFrame(np.arange(8.0).reshape(2, 4), columns=list("abcd"))  # float64
    x = parse_tf_request(to_request(frame, TF_SIG).to_string()).inputs["x"]
    assert x.dtype == np.float32 and x.shape == (2, 4)
    np.testing.assert_array_equal(x, frame.to_numpy())


def test_columns_named_like_torch_positions_are_still_one_input():
    # a frame of features 0, 1, 2 against a torch input named "0": the whole frame
    frame = pd.DataFrame(np.ones((5, 3)))
    (x,) = parse_torch_request(to_request(frame, TORCH_SIG).to_string()).inputs
    assert x.dtype == np.float32 and x.shape == (5, 3)


def test_columns_named_after_the_inputs_are_one_input_each():
    frame = pd.DataFrame({"city": [3, 4], "age": [31.5, 40.0]})
    inputs = parse_tf_request(to_request(frame, TWO_INPUTS).to_string()).inputs
    assert inputs["age"].dtype == np.float32 and inputs["age"].tolist() == [31.5, 40.0]
    assert inputs["city"].dtype == np.int64 and inputs["city"].tolist() == [[3], [4]]


def test_a_frame_that_cannot_be_the_inputs_names_them():
    with pytest.raises(RequestError, match=r"by column name.*\(no column \['city'\]\)"):
        to_request(pd.DataFrame({"age": [1.0]}), TWO_INPUTS)
    with pytest.raises(RequestError, match=r"no input \['note'\]"):
        to_request(pd.DataFrame({"age": [1.0], "city": [2], "note": ["x"]}), TWO_INPUTS)
    with pytest.raises(DTypeError, match="'x'"):
        to_request(pd.DataFrame({"a": ["x"], "b": [1], "c": [2], "d": [3]}), TF_SIG)
    with pytest.raises(RequestError, match=r"has 3 columns .* cannot be input 'x': give it 4"):
        to_request(pd.DataFrame(np.ones((2, 3))), TF_SIG)


def test_records_to_a_tensor_service_are_its_inputs_as_a_dataframe_is():
    # a list of dicts went as a JSON body, which no tensor processor reads (a 400
    # about protobuf after sending)
    rows = [{"age": 31.5, "city": 2}, {"age": 40.0, "city": 7}]
    got = parse_tf_request(to_request(rows, TWO_INPUTS).to_string()).inputs
    assert got["age"].tolist() == [31.5, 40.0] and got["age"].dtype == np.float32
    assert got["city"].tolist() == [[2], [7]] and got["city"].dtype == np.int64
    with pytest.raises(RequestError, match="no input"):
        to_request([{"age": 1.0, "town": 2}], TWO_INPUTS)

"""Property: any array of a carried dtype round-trips bit-exactly through the wire."""

from __future__ import annotations

import base64

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
from hypothesis import HealthCheck, given, settings

from easlab.wire.onnx import OnnxRequest, parse_onnx_request
from easlab.wire.tf import TFRequest, TFResponse, encode_tf_response, parse_tf_request
from easlab.wire.torch import TorchRequest, parse_torch_request

NUMERIC = [
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "bool",
    "complex64",
    "complex128",
]
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)


def _arrays() -> st.SearchStrategy[np.ndarray]:
    numeric = st.sampled_from(NUMERIC).flatmap(lambda dt: hnp.arrays(np.dtype(dt), SHAPES))
    # float16 goes through float_val as float32: exact for every non-NaN value
    half = hnp.arrays(np.float16, SHAPES, elements=st.floats(width=16, allow_nan=False))
    text = hnp.arrays(object, SHAPES, elements=st.binary(max_size=8))
    orders = st.sampled_from(["C", "F"])
    return st.tuples(st.one_of(numeric, half, text), orders).map(
        lambda t: np.asarray(t[0], order=t[1])
    )


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape and a.dtype == b.dtype
    if a.dtype == object:
        assert a.tolist() == b.tolist()
    else:
        assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_arrays())
def test_tf_round_trip_bit_exact(x):
    data = parse_tf_request(TFRequest("s").add_feed("x", x).to_string())
    _same(data.inputs["x"], x)
    _same(TFResponse(encode_tf_response({"y": data.inputs["x"]}))["y"], x)


@settings(max_examples=60, deadline=None)
@given(_arrays().filter(lambda a: a.dtype != np.bool_))
def test_torch_round_trip_bit_exact(x):
    _same(parse_torch_request(TorchRequest().add_feed(0, x).to_string()).inputs[0], x)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(
        ["float32", "float64", "int8", "uint16", "int64", "bool", "float16", "uint64"]
    ).flatmap(lambda dt: hnp.arrays(np.dtype(dt), SHAPES))
)
def test_onnx_round_trip_bit_exact(x):
    _same(parse_onnx_request(OnnxRequest().add_feed("x", x).to_string())["x"], x)


def test_official_parser_reads_a_sample(official_batch):
    rng = np.random.default_rng(7)
    sample = {
        "f32": np.array([np.nan, np.inf, -0.0, 1e-40], np.float32),
        "f64": rng.normal(size=(2, 3)),
        "i8": rng.integers(-128, 128, size=5).astype(np.int8),
        "i32": rng.integers(-(2**31), 2**31, size=(3, 1)).astype(np.int32),
        "i64": np.array([-(2**63), 2**63 - 1]),
        "u8": rng.integers(0, 256, size=4).astype(np.uint8),
        "u16": np.array([65535, 0], np.uint16),
        "b": np.array([[True], [False]]),
        "c64": (rng.normal(size=2) + 1j * rng.normal(size=2)).astype(np.complex64),
        "s": np.array([b"", b"\x00\xffz"], dtype=object),
        "f_order": np.asfortranarray(rng.normal(size=(2, 3)).astype(np.float32)),
    }
    body = TFRequest.from_numpy("s", sample).to_string()
    [parsed] = official_batch([{"kind": "parse_tf", "ours": base64.b64encode(body).decode()}])
    field_of = {
        "f": "float_val",
        "i": "int_val",
        "u": "int_val",
        "b": "bool_val",
        "c": "float_val",
        "s": "string_val",
    }
    for name, x in sample.items():
        got = parsed["inputs"][name]
        assert got["shape"] == list(x.shape)
        field = (
            "double_val"
            if x.dtype == np.float64
            else "int64_val"
            if x.dtype == np.int64
            else field_of[name[0]]
        )
        values = got[field]
        if field == "string_val":
            assert [base64.b64decode(v) for v in values] == x.ravel().tolist()
        elif x.dtype.kind == "c":
            np.testing.assert_array_equal(
                np.array(values, np.float32).view(np.complex64), x.ravel()
            )
        else:
            np.testing.assert_array_equal(np.array(values, dtype=x.dtype), x.ravel(order="C"))

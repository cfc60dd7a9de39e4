"""EasyRec and TorchRec requests against the official eas-prediction 0.36 client.

Each case is a list of method calls made on a fresh request in both clients;
the bodies must be byte-identical. Responses are built and serialized by the
official generated modules, then decoded by easlab.
"""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
import pandas as pd
import pytest
from wire_helpers import b64, unb64

from easlab.wire.easyrec import EasyRecRequest, EasyRecResponse
from easlab.wire.proto import easyrec_predict_pb2, torchrec_predict_pb2
from easlab.wire.torchrec import TorchRecRequest, TorchRecResponse, infer_dtype

SNIPPET = r"""
import base64, json, sys
from eas_prediction.easyrec_request import EasyRecRequest
from eas_prediction.torchrec_request import TorchRecRequest
from eas_prediction import easyrec_predict_pb2 as er, torchrec_predict_pb2 as tr, tf_request_pb2 as tf_pb
from eas_prediction import pytorch_predict_pb2 as pt_pb

b64 = lambda b: base64.b64encode(b).decode()

def build(kind, ops):
    r = EasyRecRequest() if kind == "easyrec" else TorchRecRequest()
    for name, *args in ops:
        if name == "feed_built":          # add_feed(bytes of a request built by these ops, level)
            sub, level = args
            r.add_feed(build(kind, sub).to_string(), level)
        elif name == "feed_message":      # EasyRec: add_feed(a PBRequest message, level)
            sub, level = args
            m = er.PBRequest(); m.ParseFromString(build(kind, sub).to_string())
            r.add_feed(m, level)
        elif name == "raw_ctx":           # request_data.context_features[k].features.add().int_feature = v
            r.request_data.context_features[args[0]].features.add().int_feature = args[1]
        else:
            getattr(r, name)(*args)
    return r

def run(case):
    kind = case["kind"]
    if kind in ("easyrec", "torchrec"):
        return {"bytes": b64(build(kind, case["ops"]).to_string())}
    if kind == "easyrec_resp":
        m = er.PBResponse()
        for item, scores in case["results"].items():
            m.results[item].scores.extend(scores)
        m.outputs.extend(case["outputs"]); m.item_ids.extend(case["item_ids"])
        m.error_msg = case.get("error_msg", ""); m.status_code = case.get("status_code", 0)
        for k, v in case.get("generate_features", {}).items():
            m.generate_features[k] = v
        for name, shape, vals in case.get("tf_outputs", []):
            o = m.tf_outputs[name]; o.dtype = tf_pb.DT_FLOAT; o.array_shape.dim.extend(shape); o.float_val.extend(vals)
        return {"bytes": b64(m.SerializeToString())}
    if kind == "torchrec_resp":
        m = tr.PBResponse()
        for name, shape, vals in case["map_outputs"]:
            o = m.map_outputs[name]; o.dtype = pt_pb.DT_FLOAT; o.array_shape.dim.extend(shape); o.float_val.extend(vals)
        m.item_ids.extend(case["item_ids"])
        for k, v in case.get("generate_features", {}).items():
            m.generate_features[k] = v
        return {"bytes": b64(m.SerializeToString())}
    raise ValueError(kind)

out = []
for case in json.load(sys.stdin):
    try:
        out.append(run(case))
    except Exception as exc:
        out.append({"error": type(exc).__name__})
print(json.dumps(out))
"""


def _build(kind: str, ops: list[list[Any]]) -> Any:
    r: Any = EasyRecRequest() if kind == "easyrec" else TorchRecRequest()
    for name, *args in ops:
        if name == "feed_built":
            sub, level = args
            r.add_feed(_build(kind, sub).to_string(), level)
        elif name == "feed_message":
            sub, level = args
            m = easyrec_predict_pb2.PBRequest()
            m.ParseFromString(_build(kind, sub).to_string())
            r.add_feed(m, level)
        elif name == "raw_ctx":
            r.request_data.context_features[args[0]].features.add().int_feature = args[1]
        else:
            getattr(r, name)(*args)
    return r


USER = [
    ["add_user_fea_str", "user_id", "u_1024"],
    ["add_user_fea_int", "age", 31],
    ["add_user_fea_flt", "ctr_7d", 0.125],
    ["add_user_fea_str", "city", "杭州"],
]
ITEMS = [["add_item_ids", ["i1", "i2", "i3"]]]
EASYREC: dict[str, list[list[Any]]] = {
    "empty": [],
    "user-features": USER,
    "zero-and-empty-values": [
        ["add_user_fea_int", "z", 0],
        ["add_user_fea_flt", "f", 0.0],
        ["add_user_fea_str", "s", ""],
        ["add_user_fea_str", "", "empty key"],
    ],
    "negative-and-large": [
        ["add_user_fea_int", "neg", -7],
        ["add_user_fea_int", "big", 2**31 - 1],
        ["add_user_fea_flt", "tiny", 1e-40],
        ["add_user_fea_flt", "huge", 3.0e38],
        ["add_user_fea_flt", "negative-zero", -0.0],
        ["add_user_fea_str", "num", 12.5],
    ],
    "overwrite-keeps-position": [
        *USER,
        ["add_user_fea_flt", "user_id", 2.5],
        ["add_user_fea_int", "age", 32],
    ],
    "faiss-neighbours": [*USER, ["set_faiss_neigh_num", 200]],
    "keep-one-item": [*USER, ["add_item_ids", ["a", "b", "c"]], ["keep_one_item_ids"]],
    "debug-level-1": [["feed_built", [*USER, ["set_faiss_neigh_num", 5]], 1]],
    "debug-level-3": [["feed_built", USER, 3]],
    "feed-message": [["feed_message", USER, 2]],
    "feed-then-add": [["feed_built", USER, 1], ["add_user_fea_int", "extra", 9]],
    "context-features": [*USER, ["raw_ctx", "hour", 13], ["raw_ctx", "hour", 14]],
    "feed-with-context": [["feed_built", [*USER, ["raw_ctx", "hour", 7]], 2]],
}
# the official client has no add_item_ids; its users extend request_data.item_ids
OFFICIAL_ALIASES = {"add_item_ids": "item_ids"}

TORCHREC_FEATURES: list[tuple[str, Any]] = [
    ("STRING", "u_1"),
    ("string", "lower-case dtype"),
    ("FLOAT", 0.5),
    ("DOUBLE", 1e300),
    ("BIGINT", -(2**62)),
    ("INT64", 7),
    ("INT", -3),
    ("FLOAT", 0.0),
    ("STRING", None),
    ("LIST<FLOAT>", [0.5, 1.5]),
    ("LIST<STRING>", ["a", "", "é"]),
    ("LIST<DOUBLE>", [1.0, -2.0]),
    ("LIST<INT>", [1, -1, 300]),
    ("LIST<INT64>", [2**40, -5]),
    ("LIST<BIGINT>", [0, 1]),
    ("ARRAY<FLOAT>", [3.5]),
    ("ARRAY<STRING>", ["x"]),
    ("ARRAY<DOUBLE>", [0.25]),
    ("ARRAY<INT>", [0]),
    ("ARRAY<INT64>", [9]),
    ("ARRAY<BIGINT>", [10]),
    ("LIST<FLOAT>", []),
    ("MAP<INT,INT>", {"3": 1, "1": 0, "-2": 5}),
    ("MAP<INT,INT64>", {"1": 2**40}),
    ("MAP<INT,BIGINT>", {"0": 1}),
    ("MAP<INT,STRING>", {"2": "b", "1": ""}),
    ("MAP<INT,FLOAT>", {"5": 0.5, "4": 0.0}),
    ("MAP<INT,DOUBLE>", {"9": 2.5}),
    ("MAP<INT64,INT>", {"10": 1}),
    ("MAP<BIGINT,INT64>", {"11": -1}),
    ("MAP<INT64,STRING>", {"-12": "neg"}),
    ("MAP<BIGINT,FLOAT>", {"13": 1.5}),
    ("MAP<INT64,DOUBLE>", {"14": 1.5, "2": 3.0}),
    ("MAP<STRING,INT>", {"b": 1, "a": 2, "": 3}),
    ("MAP<STRING,INT64>", {"k": 2**50}),
    ("MAP<STRING,BIGINT>", {"k": 0}),
    ("MAP<STRING,STRING>", {"z": "1", "y": "2"}),
    ("MAP<STRING,FLOAT>", {"w": 0.75}),
    ("MAP<STRING,DOUBLE>", {"v": -0.5}),
    ("MAP<STRING,INT>", {}),
    ("MAP<INT,FLOAT>", {"1": -0.0}),  # a map's float zero goes out as +0.0
    ("MAP<STRING,DOUBLE>", {"a": -0.0, "b": 0.0}),
    ("FLOAT", -0.0),  # a oneof member keeps the sign
    ("LIST<DOUBLE>", [-0.0]),
    ("ARRAY<ARRAY<FLOAT>>", [[1.0, 2.0], [], [3.0]]),
    ("LIST<LIST<FLOAT>>", [[0.5]]),
]
TORCHREC: dict[str, list[list[Any]]] = {"empty": []}
for _i, (_dtype, _value) in enumerate(TORCHREC_FEATURES):
    TORCHREC[f"user-{_i}-{_dtype}"] = [["add_user_fea", "f", _value, _dtype]]
TORCHREC["all-user-features"] = [
    ["add_user_fea", f"f{i}", v, t] for i, (t, v) in enumerate(TORCHREC_FEATURES)
]
TORCHREC["full-request"] = [
    ["add_user_fea", "user_id", "u1", "STRING"],
    ["add_user_fea", "age", 31, "INT"],
    ["add_user_fea", "tags", {"2": 0.5, "1": 0.25}, "MAP<INT,FLOAT>"],
    ["add_context_fea", "hour", 13, "BIGINT"],
    ["add_context_fea", "hour", 14, "BIGINT"],
    ["add_context_fea", "pos", {"b": 1, "a": 2}, "MAP<STRING,INT>"],
    ["add_item_fea", "price", 9.5, "DOUBLE"],
    ["add_item_fea", "price", 12.0, "DOUBLE"],
    ["add_item_fea", "title", "shoes", "STRING"],
    ["add_item_fea", "emb", [0.1, 0.2], "LIST<FLOAT>"],
    ["add_item_fea", "cat_w", {"7": 1.0, "3": 2.0}, "MAP<BIGINT,DOUBLE>"],
    ["add_item_fea", "cat_w", {"1": 3.0}, "MAP<BIGINT,DOUBLE>"],
    ["add_item_id", "i1"],
    ["add_item_id", 42],
    ["add_meta_data", "request_id", "r-1"],
    ["add_meta_data", "scene", 3],
    ["add_meta_data", "empty", ""],
    ["set_faiss_neigh_num", 100],
    ["set_debug_level", 2],
]
TORCHREC["overwrite-user-feature"] = [
    ["add_user_fea", "a", 1, "INT"],
    ["add_user_fea", "b", {"2": 1, "1": 2}, "MAP<INT,INT>"],
    ["add_user_fea", "a", {"9": 1, "8": 2}, "MAP<INT,INT>"],
    ["add_user_fea", "b", "now a string", "STRING"],
]
TORCHREC["feed-debug-level"] = [["feed_built", TORCHREC["full-request"], 3]]
TORCHREC["feed-then-add"] = [
    ["feed_built", TORCHREC["full-request"], 1],
    ["add_item_fea", "price", 1.0, "DOUBLE"],
    ["add_user_fea", "new", {"3": "x", "1": "y"}, "MAP<INT,STRING>"],
]


def _random_requests(seed: int, count: int) -> dict[str, list[list[Any]]]:
    """Seeded random TorchRec requests: many features, maps of random key order, odd floats."""
    rng = random.Random(seed)
    floats = [0.0, -0.0, 1e-45, 3.4e38, 0.1, -2.5, 1e300]

    def value(dtype: str) -> Any:
        if dtype.startswith("MAP<"):
            key_t = dtype[4:].split(",")[0]
            keys = [rng.randint(-(2**31), 2**31 - 1) for _ in range(rng.randint(1, 5))]
            keys = [str(k) if key_t != "STRING" else f"k{k}" for k in keys]
            return {k: value(dtype.split(",")[1][:-1]) for k in keys}
        if dtype.startswith(("LIST<", "ARRAY<")):
            return [value(dtype[dtype.index("<") + 1 : -1]) for _ in range(rng.randint(1, 4))]
        if dtype == "STRING":
            return rng.choice(["", "a", "é€", "x" * 200])
        if dtype in ("FLOAT", "DOUBLE"):
            return rng.choice(floats) if dtype == "DOUBLE" else rng.choice(floats[:-1])
        bits = 31 if dtype == "INT" else 63
        return rng.randint(-(2**bits), 2**bits - 1)

    dtypes = [t for t, _ in TORCHREC_FEATURES if "<" not in t or "LIST<LIST" not in t]
    dtypes = [t for t in dtypes if t != "ARRAY<ARRAY<FLOAT>>"]
    out: dict[str, list[list[Any]]] = {}
    for n in range(count):
        ops: list[list[Any]] = []
        for _ in range(rng.randint(1, 12)):
            dtype = rng.choice(dtypes).upper()
            method = rng.choice(["add_user_fea", "add_context_fea", "add_item_fea"])
            ops.append([method, f"f{rng.randint(0, 6)}", value(dtype), dtype])
        ops += [["add_item_id", rng.randint(0, 99)] for _ in range(rng.randint(0, 3))]
        ops += [
            ["add_meta_data", f"m{rng.randint(0, 3)}", value("STRING")]
            for _ in range(rng.randint(0, 2))
        ]
        out[f"random-{seed}-{n}"] = ops
    return out


TORCHREC.update(_random_requests(seed=19, count=40))
TORCHREC["debug-level-zero"] = [["set_debug_level", 5], ["set_debug_level"]]
TORCHREC_ERRORS: dict[str, list[list[Any]]] = {
    "unknown-dtype": [["add_user_fea", "f", 1, "UINT8"]],
    "list-needs-list": [["add_user_fea", "f", 1.0, "LIST<FLOAT>"]],
    "map-needs-dict": [["add_user_fea", "f", [1], "MAP<INT,INT>"]],
    "lists-need-lists": [["add_user_fea", "f", [1.0], "ARRAY<ARRAY<FLOAT>>"]],
}


def _official_ops(ops: list[list[Any]]) -> list[list[Any]]:
    out = []
    for name, *args in ops:
        if name == "add_item_ids":  # easlab's form: the official users extend the message's list
            out.append(["raw_item_ids", *args])
        elif name in ("feed_built", "feed_message"):
            out.append([name, _official_ops(args[0]), args[1]])
        else:
            out.append([name, *args])
    return out


@pytest.fixture(scope="module")
def official(run_official):
    cases: list[dict[str, Any]] = []
    for ops in EASYREC.values():
        cases.append({"kind": "easyrec", "ops": _official_ops(ops)})
    for ops in [*TORCHREC.values(), *TORCHREC_ERRORS.values()]:
        cases.append({"kind": "torchrec", "ops": ops})
    cases += RESPONSE_CASES
    snippet = SNIPPET.replace(
        'elif name == "raw_ctx"',
        'elif name == "raw_item_ids":\n            r.request_data.item_ids.extend(args[0])\n        elif name == "raw_ctx"',
    )
    results = json.loads(run_official(snippet, stdin=json.dumps(cases).encode()))
    n_e, n_t = len(EASYREC), len(TORCHREC) + len(TORCHREC_ERRORS)
    return {
        "easyrec": dict(zip(EASYREC, results[:n_e], strict=True)),
        "torchrec": dict(zip([*TORCHREC, *TORCHREC_ERRORS], results[n_e : n_e + n_t], strict=True)),
        "responses": results[n_e + n_t :],
    }


# A PBRequest message handed to add_feed has no entry order left (upb maps keep
# none): the same message, its map entries possibly in another order.
SAME_MESSAGE = {"feed-message"}


@pytest.mark.parametrize("case", list(EASYREC))
def test_easyrec_request_bytes(official, case):
    theirs = official["easyrec"][case]
    assert "error" not in theirs, theirs
    ours = _build("easyrec", EASYREC[case]).to_string()
    if case in SAME_MESSAGE:
        parse = easyrec_predict_pb2.PBRequest.FromString
        assert parse(ours) == parse(unb64(theirs["bytes"]))
    else:
        assert ours == unb64(theirs["bytes"])


@pytest.mark.parametrize("case", list(TORCHREC))
def test_torchrec_request_bytes(official, case):
    theirs = official["torchrec"][case]
    assert "error" not in theirs, theirs
    assert _build("torchrec", TORCHREC[case]).to_string() == unb64(theirs["bytes"])


@pytest.mark.parametrize("case", list(TORCHREC_ERRORS))
def test_torchrec_refuses_what_the_official_refuses(official, case):
    assert official["torchrec"][case] == {"error": "ValueError"}
    with pytest.raises(ValueError):
        _build("torchrec", TORCHREC_ERRORS[case])


def test_keep_one_item_ids_needs_an_item():
    with pytest.raises(IndexError):
        EasyRecRequest().keep_one_item_ids()


# ---------------------------------------------------------------- numpy / pandas forms


def test_easyrec_user_features_from_a_dataframe_row(official):
    frame = pd.DataFrame(
        {
            "user_id": ["u_1024"],
            "age": np.array([31], np.int64),
            "ctr_7d": [0.125],
            "city": ["杭州"],
        }
    )
    ours = EasyRecRequest().add_user_features(frame).add_item_ids(pd.Series(["i1", "i2", "i3"]))
    expected = _build("easyrec", [*USER, *ITEMS]).to_string()
    assert ours.to_string() == expected
    assert (
        EasyRecRequest().add_user_features(frame.iloc[0]).to_string()
        == _build("easyrec", USER).to_string()
    )
    assert _build("easyrec", USER).to_string() == unb64(
        official["easyrec"]["user-features"]["bytes"]
    )


def test_easyrec_missing_values_are_left_out():
    ours = EasyRecRequest().add_user_features({"a": None, "b": float("nan"), "c": np.int32(4)})
    assert list(ours.request_data.user_features) == ["c"]
    assert ours.request_data.user_features["c"].int_feature == 4


def test_torchrec_item_features_from_a_dataframe(official):
    items = pd.DataFrame(
        {
            "item_id": ["i1", "i2"],
            "price": np.array([9.5, 12.0]),
            "title": ["shoes", "hat"],
            "clicks": np.array([3, 4], np.int32),
            "emb": [[0.1, 0.2], [0.3, 0.4]],
        }
    )
    ours = TorchRecRequest().add_item_features(
        items, item_id="item_id", dtypes={"emb": "LIST<FLOAT>"}
    )
    ops = [["add_item_id", "i1"], ["add_item_id", "i2"]]
    for name, dtype in [
        ("price", "DOUBLE"),
        ("title", "STRING"),
        ("clicks", "INT"),
        ("emb", "LIST<FLOAT>"),
    ]:
        ops += [["add_item_fea", name, v, dtype] for v in items[name].tolist()]
    assert ours.to_string() == _build("torchrec", ops).to_string()


def test_torchrec_user_features_inferred_dtypes():
    features = {
        "uid": "u1",
        "age": 31,
        "age32": np.int32(31),
        "score": 0.5,
        "score32": np.float32(0.5),
        "tags": ["a", "b"],
        "emb": np.array([0.5, 1.5], np.float32),
        "weights": {"x": 1.5},
        "ids": {3: 1},
    }
    assert {k: infer_dtype(v) for k, v in features.items()} == {
        "uid": "STRING",
        "age": "BIGINT",
        "age32": "INT",
        "score": "DOUBLE",
        "score32": "FLOAT",
        "tags": "LIST<STRING>",
        "emb": "LIST<FLOAT>",
        "weights": "MAP<STRING,DOUBLE>",
        "ids": "MAP<BIGINT,BIGINT>",
    }
    ours = TorchRecRequest().add_user_features(features)
    expected = _build(
        "torchrec",
        [
            ["add_user_fea", "uid", "u1", "STRING"],
            ["add_user_fea", "age", 31, "BIGINT"],
            ["add_user_fea", "age32", 31, "INT"],
            ["add_user_fea", "score", 0.5, "DOUBLE"],
            ["add_user_fea", "score32", 0.5, "FLOAT"],
            ["add_user_fea", "tags", ["a", "b"], "LIST<STRING>"],
            ["add_user_fea", "emb", [0.5, 1.5], "LIST<FLOAT>"],
            ["add_user_fea", "weights", {"x": 1.5}, "MAP<STRING,DOUBLE>"],
            ["add_user_fea", "ids", {3: 1}, "MAP<BIGINT,BIGINT>"],
        ],
    )
    assert ours.to_string() == expected.to_string()


# ---------------------------------------------------------------- responses

RESPONSE_CASES: list[dict[str, Any]] = [
    {
        "kind": "easyrec_resp",
        "results": {"i2": [0.9, 0.1], "i1": [0.25, 0.75]},
        "outputs": ["probs", "y"],
        "item_ids": ["i1", "i2"],
        "generate_features": {"i1": "age:31"},
        "tf_outputs": [["logits", [2, 1], [0.5, -0.5]]],
    },
    {
        "kind": "easyrec_resp",
        "results": {},
        "outputs": [],
        "item_ids": [],
        "error_msg": "no item ids",
        "status_code": 1,
    },
    {
        "kind": "torchrec_resp",
        "map_outputs": [["probs", [3], [0.1, 0.2, 0.3]], ["emb", [3, 2], [1, 2, 3, 4, 5, 6]]],
        "item_ids": ["a", "b", "c"],
        "generate_features": {"a": "x"},
    },
]


def test_easyrec_response_from_official_bytes(official):
    body = unb64(official["responses"][0]["bytes"])
    resp = EasyRecRequest().parse_response(body)
    assert isinstance(resp, EasyRecResponse)
    assert list(resp.results["i2"].scores) == [0.9, 0.1]
    assert list(resp.item_ids) == ["i1", "i2"] and resp.generate_features["i1"] == "age:31"
    frame = resp.to_dataframe()
    assert list(frame.index) == ["i1", "i2"] and list(frame.columns) == ["probs", "y"]
    assert frame.loc["i2", "probs"] == 0.9
    np.testing.assert_array_equal(resp.arrays()["logits"], np.array([[0.5], [-0.5]], np.float32))
    assert (
        resp.SerializeToString()
        == easyrec_predict_pb2.PBResponse.FromString(body).SerializeToString()
    )

    failed = EasyRecResponse(unb64(official["responses"][1]["bytes"]))
    assert failed.status_code == easyrec_predict_pb2.INPUT_EMPTY
    assert failed.error_msg == "no item ids" and failed.to_dataframe().empty


def test_torchrec_response_from_official_bytes(official):
    body = unb64(official["responses"][2]["bytes"])
    resp = TorchRecRequest().parse_response(body)
    assert isinstance(resp, TorchRecResponse)
    assert list(resp.item_ids) == ["a", "b", "c"]
    assert list(resp.map_outputs["probs"].float_val) == pytest.approx([0.1, 0.2, 0.3])
    np.testing.assert_array_equal(resp["emb"], np.arange(1, 7, dtype=np.float32).reshape(3, 2))
    frame = resp.to_dataframe()
    assert list(frame.columns) == ["probs", "emb[0]", "emb[1]"]
    assert list(frame.index) == ["a", "b", "c"] and frame.loc["c", "emb[1]"] == 6.0
    assert resp.generate_features["a"] == "x"
    assert isinstance(resp.message, torchrec_predict_pb2.PBResponse)


def test_b64_helper_roundtrip():
    assert unb64(b64(b"\x00\x01")) == b"\x00\x01"

"""Helpers shared by the wire tests: the official-client snippet and base64 helpers."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

OFFICIAL_SNIPPET = r"""
import base64, json, sys
import numpy as np
import snappy
from eas_prediction import TFRequest, TorchRequest, BladeRequest, StringRequest, OnnxRequest
from eas_prediction import blade_tf_request, tf_request_pb2 as tf_pb, pytorch_predict_pb2 as pt_pb
from eas_prediction import blade_pb2, onnx_processor_data_pb2 as onnx_pb
from eas_prediction.onnx_processor_data_helper import from_array

b64 = lambda b: base64.b64encode(b).decode()
unb64 = lambda s: base64.b64decode(s)

def wrap(values, how):
    # one-pass iterables, as code reading a file or a dict hands them over
    if how == "generator":
        return (v for v in values)
    if how == "map":
        return map(lambda v: v, values)
    if how == "dict_values":
        return dict(enumerate(values)).values()
    return values

def content(c):
    # strings come as {"b64": [...]}; {"wrap": how, ...} hands the values over as an iterable
    if isinstance(c, dict):
        values = [unb64(x) for x in c["b64"]] if "b64" in c else c["values"]
        return wrap(values, c.get("wrap"))
    return c

def values(arr_pb, fields):
    out = {}
    for f in fields:
        if hasattr(arr_pb, f):
            v = list(getattr(arr_pb, f))
            if f == "string_val":
                v = [b64(x) for x in v]
            out[f] = v
    return out

TF_FIELDS = ["float_val", "double_val", "int_val", "string_val", "int64_val", "bool_val"]

def parsed_tf(msg):
    return {
        "signature_name": msg.signature_name,
        "output_filter": list(msg.output_filter),
        "inputs": {k: {"dtype": v.dtype, "has_shape": v.HasField("array_shape"),
                       "shape": list(v.array_shape.dim), **values(v, TF_FIELDS)}
                   for k, v in msg.inputs.items()},
    }

def run(case):
    kind = case["kind"]
    ours = unb64(case["ours"]) if "ours" in case else None
    if kind == "tf":
        r = TFRequest(case["sig"])
        for name, shape, dt, c in case["feeds"]:
            r.add_feed(name, shape, dt, content(c))
        for f in case.get("fetch", []):
            r.add_fetch(f)
        out = {"bytes": b64(r.to_string())}
        if ours is not None:
            m = tf_pb.PredictRequest(); m.ParseFromString(ours)
            out["equal"] = m == r.request_data
        return out
    if kind == "torch":
        r = TorchRequest(case.get("flag", False))
        for idx, shape, dt, c in case["feeds"]:
            r.add_feed(idx, shape, dt, content(c))
        for name, shape, dt, c in case.get("map_feeds", []):
            r.add_feed_map(name, shape, dt, content(c))
        for f in case.get("fetch", []):
            r.add_fetch(f)
        if "debug" in case:
            r.set_debug_level(case["debug"])
        out = {"bytes": b64(r.to_string())}
        if ours is not None:
            if case.get("flag"):
                ours = snappy.uncompress(ours)
            m = pt_pb.PredictRequest(); m.ParseFromString(ours)
            out["equal"] = m == r.request_data
        return out
    if kind in ("blade", "bladetf"):
        r = BladeRequest(case["sig"]) if kind == "blade" else blade_tf_request.TFRequest(case["sig"])
        for feed in case["feeds"]:
            feed = list(feed); feed[-1] = content(feed[-1])
            r.add_feed(*feed)
        for f in case.get("fetch", []):
            r.add_fetch(*f) if kind == "blade" else r.add_fetch(f)
        out = {"bytes": b64(r.to_string())}
        if ours is not None:
            m = blade_pb2.Request(); m.ParseFromString(ours)
            out["equal"] = m == r.request_data
        return out
    if kind == "string":
        data = unb64(case["data"])
        return {"bytes": b64(StringRequest(data).to_string())}
    if kind == "onnx":
        r = OnnxRequest()
        for name, dtype, shape, raw in case["tensors"]:
            arr = np.frombuffer(unb64(raw), dtype=dtype).reshape(shape)
            r.add_tensor(from_array(arr, name))
        out = {"bytes": b64(r.to_string())}
        if ours is not None:
            m = onnx_pb.DataProto(); m.ParseFromString(ours)
            out["equal"] = m == r.request_data
        return out
    if kind == "tf_resp":
        m = tf_pb.PredictResponse()
        for name, dt, shape, field, c in case["outputs"]:
            o = m.outputs[name]; o.dtype = dt
            if shape is not None:
                o.array_shape.dim.extend(shape)
            getattr(o, field).extend(content(c))
        return {"bytes": b64(m.SerializeToString())}
    if kind == "torch_resp":
        m = pt_pb.PredictResponse()
        for dt, shape, field, c in case["outputs"]:
            o = m.outputs.add(); o.dtype = dt; o.array_shape.dim.extend(shape)
            getattr(o, field).extend(content(c))
        for name, dt, shape, field, c in case.get("map_outputs", []):
            o = m.map_outputs[name]; o.dtype = dt; o.array_shape.dim.extend(shape)
            getattr(o, field).extend(content(c))
        return {"bytes": b64(m.SerializeToString())}
    if kind == "blade_resp":
        m = blade_pb2.Response()
        for name, bs, shape, field, c in case["outputs"]:
            o = m.outputs.add(); o.name_in_dl_model = name; o.blade_blob_name = name
            o.batchsize = bs; o.shape.dim.extend(shape)
            getattr(o, field).extend(content(c))
        return {"bytes": b64(m.SerializeToString())}
    if kind == "onnx_resp":
        m = onnx_pb.DataProto()
        for name, dtype, shape, raw in case["tensors"]:
            m.tensors.add().CopyFrom(from_array(np.frombuffer(unb64(raw), dtype=dtype).reshape(shape), name))
        return {"bytes": b64(m.SerializeToString())}
    if kind == "parse_tf":
        m = tf_pb.PredictRequest(); m.ParseFromString(ours)
        return parsed_tf(m)
    if kind == "official_get_values":
        from eas_prediction.tf_request import TFResponse
        resp = TFResponse(ours)
        vals = resp.get_values(case["name"])
        vals = None if vals is None else [b64(v) if isinstance(v, bytes) else v for v in vals]
        return {"values": vals, "shape": resp.get_tensor_shape(case["name"])}
    raise ValueError(kind)

cases = json.load(sys.stdin)
results = []
for case in cases:
    try:
        results.append(run(case))
    except Exception as exc:
        results.append({"error": f"{type(exc).__name__}: {exc}"})
print(json.dumps(results))
"""


def b64(data: bytes) -> str:
    return base64.b64encode(bytes(data)).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def strings(values: list[bytes]) -> dict[str, list[str]]:
    """String content for the snippet (JSON cannot carry bytes)."""
    return {"b64": [b64(v) for v in values]}


WRAPS = ("generator", "map", "dict_values")


def wrap(values: list[Any], how: str) -> Iterable[Any]:
    """``values`` handed over as a one-pass iterable, as the snippet's ``wrap`` does."""
    if how == "generator":
        return (v for v in values)
    if how == "map":
        return map(lambda v: v, values)
    if how == "dict_values":
        return dict(enumerate(values)).values()
    raise ValueError(how)

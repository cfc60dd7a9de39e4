"""SeldonMessage JSON ⇄ what a component sees: pure functions, no server (SPEC §6).

Answers are built as JSON directly (not through protobuf) so JSON integers stay
integers, as seldon-core's REST path does.
"""

from __future__ import annotations

import base64
import os
from typing import Any

import numpy as np

from easlab.seldon.errors import SeldonMicroserviceException
from easlab.seldon.user_model import client_class_names, client_custom_tags, client_feature_names


def request_path_of_env() -> dict[str, str]:
    """``{PREDICTIVE_UNIT_ID: PREDICTIVE_UNIT_IMAGE}`` when the unit id is set (graph nodes)."""
    unit = os.environ.get("PREDICTIVE_UNIT_ID")
    if unit is None or unit == "NOT_IMPLEMENTED":
        return {}
    return {unit: os.environ.get("PREDICTIVE_UNIT_IMAGE", "NOT_IMPLEMENTED:NOT_IMPLEMENTED")}


def _tftensor_to_array(tftensor: Any) -> np.ndarray:
    try:
        import tensorflow as tf  # noqa: F401  (heavy: only for tftensor payloads)
        from google.protobuf import json_format
        from tensorflow.core.framework.tensor_pb2 import TensorProto
    except ImportError as exc:
        raise SeldonMicroserviceException(
            "data.tftensor needs tensorflow in the serving Python; install easlab[tensorflow]"
        ) from exc
    proto = TensorProto()
    json_format.ParseDict(tftensor, proto)
    return tf.make_ndarray(proto)


def extract_request_parts(request: Any) -> tuple[Any, Any, Any, str]:
    """``(features, meta, datadef, data_type)`` of one SeldonMessage dict."""
    if not isinstance(request, dict):
        raise SeldonMicroserviceException(f"Invalid request data type: {request}")
    meta = request.get("meta", None)
    datadef = None
    if "data" in request:
        data_type = "data"
        datadef = request["data"]
        if "tensor" in datadef:
            tensor = datadef["tensor"]
            features: Any = np.array(tensor["values"]).reshape(tensor["shape"])
        elif "ndarray" in datadef:
            features = np.array(datadef["ndarray"])
        elif "tftensor" in datadef:
            features = _tftensor_to_array(datadef["tftensor"])
        else:
            features = np.array([])
    elif "jsonData" in request:
        data_type, features = "jsonData", request["jsonData"]
    elif "strData" in request:
        data_type, features = "strData", request["strData"]
    elif "binData" in request:
        data_type, features = "binData", base64.b64decode(request["binData"])
    else:
        raise SeldonMicroserviceException(f"Invalid request data type: {request}")
    return features, meta, datadef, data_type


def names_of(datadef: Any) -> Any:
    return datadef["names"] if datadef and "names" in datadef else []


def _tensor(array: np.ndarray) -> dict[str, Any]:
    return {"values": array.ravel().tolist(), "shape": list(array.shape)}


def _tftensor(array: np.ndarray) -> Any:
    import json

    import tensorflow as tf
    from google.protobuf import json_format

    return json.loads(json_format.MessageToJson(tf.make_tensor_proto(array)))


def construct_response(
    user_model: Any,
    is_request: bool,
    request: Any,
    raw: Any,
    meta: dict[str, Any] | None = None,
    custom_metrics: list[dict[str, Any]] | None = None,
    runtime_tags: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The SeldonMessage JSON answering ``request`` with the component's ``raw`` result.

    A numeric array keeps the request's kind (tensor, tftensor, else ndarray); with no
    ``data`` in the request a numeric array becomes a tensor. Names are the component's
    ``feature_names`` on the request side and ``class_names`` on the answer side.
    """
    response: dict[str, Any] = {}
    if isinstance(raw, dict):
        response["jsonData"] = raw
    elif isinstance(raw, (bytes, bytearray)):
        response["binData"] = base64.b64encode(raw).decode("utf-8")
    elif isinstance(raw, str):
        response["strData"] = raw
    else:
        if not isinstance(raw, (np.ndarray, list)):
            raise SeldonMicroserviceException(
                "Unknown data type returned as payload (must be list or np array):" + str(raw)
            )
        array = raw if isinstance(raw, np.ndarray) else np.array(raw)
        as_list = raw.tolist() if isinstance(raw, np.ndarray) else raw
        numeric = np.issubdtype(array.dtype, np.number)
        sent: Any = request.get("data") or {}
        kind: str
        value: Any
        if "data" in request:
            if numeric and "tensor" in sent:
                kind, value = "tensor", _tensor(array)
            elif numeric and "tftensor" in sent:
                kind, value = "tftensor", _tftensor(array)
            else:
                kind, value = "ndarray", as_list
        elif numeric:
            kind, value = "tensor", _tensor(array)
        else:
            kind, value = "ndarray", as_list
        data: dict[str, Any] = {kind: value}  # kind/value typed Any below
        if is_request:
            data["names"] = client_feature_names(
                user_model, request.get("data", {}).get("names", [])
            )
        else:
            data["names"] = client_class_names(user_model, array)
        response["data"] = data
    out_meta: dict[str, Any] = {}
    # the request's own tags and metrics, copied (seldon-core adds to the request's): of any
    # type, as seldon-core takes them, a str echoed where nothing is added to it and
    # failing as seldon-core's where something is ("'str' object has no attribute 'update'")
    tags: Any = meta.get("tags", {}) if meta else {}
    tags = dict(tags) if isinstance(tags, dict) else tags
    metrics: Any = meta.get("metrics", []) if meta else []
    metrics = list(metrics) if isinstance(metrics, list) else metrics
    request_path = meta.get("requestPath", {}) if meta else {}
    custom_tags = client_custom_tags(user_model)
    if custom_tags:
        tags.update(custom_tags)
    if runtime_tags:
        tags.update(runtime_tags)
    if custom_metrics:
        metrics.extend(custom_metrics)
    if tags:
        out_meta["tags"] = tags
    if metrics:
        out_meta["metrics"] = metrics
    puid = request.get("meta", {}).get("puid") if isinstance(request, dict) else None
    if puid:
        out_meta["puid"] = puid
    path = {**request_path_of_env(), **(request_path or {})}
    if path:
        out_meta["requestPath"] = path
    response["meta"] = out_meta
    return response

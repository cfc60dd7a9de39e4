"""One function per Seldon endpoint: the request dict in, the answer dict out.

The order of hooks follows seldon-core's wrapper: ``*_raw`` first (unless it raises
``SeldonNotImplementedError``), then the high-level method with the payload decoded.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import numpy as np

from easlab.seldon import metrics as tags_of
from easlab.seldon.errors import SeldonMicroserviceException, SeldonNotImplementedError
from easlab.seldon.metadata import SeldonInvalidMetadataError, validate_model_metadata
from easlab.seldon.metrics import SeldonMetrics
from easlab.seldon.payload import construct_response, extract_request_parts, names_of
from easlab.seldon.user_model import (
    client_aggregate,
    client_custom_metrics,
    client_health_status,
    client_predict,
    client_route,
    client_send_feedback,
    client_transform_input,
    client_transform_output,
    include_metrics_in_client_response,
)

logger = logging.getLogger(__name__)


def _raw(user_model: Any, hook: str, request: Any, metrics: SeldonMetrics, method: str) -> Any:
    """The ``*_raw`` hook's answer, or None when the component has none."""
    if not hasattr(user_model, hook):
        return None
    try:
        response = getattr(user_model, hook)(request)
    except SeldonNotImplementedError:
        return None
    if isinstance(response, dict):
        found = response.get("meta", {}).get("metrics", [])
        if found and not include_metrics_in_client_response():
            del response["meta"]["metrics"]
        metrics.update(found, method)
    return response if response is not None else {}


def _data_call(user_model: Any, request: Any, metrics: SeldonMetrics, hook: str, method: str):
    raw = _raw(user_model, f"{hook}_raw", request, metrics, method)
    if raw is not None:
        return raw
    features, meta, datadef, _ = extract_request_parts(request)
    call = {
        "predict": client_predict,
        "transform_input": client_transform_input,
        "transform_output": client_transform_output,
    }[hook]
    answer = call(user_model, features, names_of(datadef), meta=meta)
    custom = client_custom_metrics(user_model, metrics, method, answer.metrics)
    return construct_response(user_model, False, request, answer.data, meta, custom, answer.tags)


def predict(user_model: Any, request: Any, metrics: SeldonMetrics) -> Any:
    if hasattr(user_model, "predict_rest"):  # deprecated, still honoured by seldon-core
        return user_model.predict_rest(request)
    return _data_call(user_model, request, metrics, "predict", tags_of.PREDICT_METRIC_METHOD_TAG)


def transform_input(user_model: Any, request: Any, metrics: SeldonMetrics) -> Any:
    if hasattr(user_model, "transform_input_rest"):
        return user_model.transform_input_rest(request)
    return _data_call(
        user_model, request, metrics, "transform_input", tags_of.INPUT_TRANSFORM_METRIC_METHOD_TAG
    )


def transform_output(user_model: Any, request: Any, metrics: SeldonMetrics) -> Any:
    if hasattr(user_model, "transform_output_rest"):
        return user_model.transform_output_rest(request)
    return _data_call(
        user_model,
        request,
        metrics,
        "transform_output",
        tags_of.OUTPUT_TRANSFORM_METRIC_METHOD_TAG,
    )


def route(user_model: Any, request: Any, metrics: SeldonMetrics) -> Any:
    if hasattr(user_model, "route_rest"):
        return user_model.route_rest(request)
    raw = _raw(user_model, "route_raw", request, metrics, tags_of.ROUTER_METRIC_METHOD_TAG)
    if raw is not None:
        return raw
    features, meta, datadef, _ = extract_request_parts(request)
    answer = client_route(user_model, features, names_of(datadef), meta=meta)
    # bool is an int in Python, and seldon-core accepts it the same way
    if not isinstance(answer.data, int):
        raise SeldonMicroserviceException(f"Routing response must be int but got {answer.data}")
    custom = client_custom_metrics(
        user_model, metrics, tags_of.ROUTER_METRIC_METHOD_TAG, answer.metrics
    )
    return construct_response(
        user_model, False, request, np.array([[answer.data]]), None, custom, answer.tags
    )


def aggregate(user_model: Any, request: Any, metrics: SeldonMetrics) -> Any:
    if hasattr(user_model, "aggregate_rest"):
        return user_model.aggregate_rest(request)
    raw = _raw(user_model, "aggregate_raw", request, metrics, tags_of.AGGREGATE_METRIC_METHOD_TAG)
    if raw is not None:
        return raw
    if isinstance(request, list):
        messages = request
    elif isinstance(request, dict) and isinstance(request.get("seldonMessages"), list):
        messages = request["seldonMessages"]
    else:
        raise SeldonMicroserviceException(f"Invalid request data type: {request}")
    features_list, names_list, meta_list = [], [], []
    for message in messages:
        features, meta, datadef, _ = extract_request_parts(message)
        features_list.append(features)
        names_list.append(names_of(datadef))
        meta_list.append(meta)
    answer = client_aggregate(user_model, features_list, names_list)
    custom = client_custom_metrics(
        user_model, metrics, tags_of.AGGREGATE_METRIC_METHOD_TAG, answer.metrics
    )
    merged_tags: dict[str, Any] = {}
    merged_path: dict[str, Any] = {}
    merged_metrics: list[Any] = []
    for meta in meta_list:
        if meta:
            merged_tags.update(meta.get("tags", {}))
            merged_path.update(meta.get("requestPath", {}))
            merged_metrics.extend(meta.get("metrics", []))
    merged_metrics.extend(custom)
    return construct_response(
        user_model,
        False,
        messages[0],
        answer.data,
        {"tags": merged_tags, "requestPath": merged_path},
        merged_metrics,
        answer.tags,
    )


def _floats(value: Any) -> Any:
    """What a protobuf round trip does to JSON numbers (Value/double): ints become floats."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, list):
        return [_floats(v) for v in value]
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    return value


def send_feedback(user_model: Any, request: Any, metrics: SeldonMetrics, unit_id: str) -> Any:
    """``/send-feedback``: seldon-core parses the body into a Feedback proto first, so
    numbers arrive (and leave) as floats and empty fields are dropped."""
    if not isinstance(request, dict):
        raise SeldonMicroserviceException(f"Invalid request data type: {request}")
    reward = float(request.get("reward", 0.0) or 0.0)
    metrics.update_reward(reward)
    inner = request.get("request") or {}
    raw = _raw(user_model, "send_feedback_raw", request, metrics, "send_feedback")
    if raw is not None:
        return raw
    inner_data = inner.get("data") if isinstance(inner, dict) else None
    features: Any = None
    names: Any = []
    if inner_data is not None:
        features, _, datadef, _ = extract_request_parts(_floats(inner))
        names = names_of(datadef)
    elif isinstance(inner, dict) and any(k in inner for k in ("jsonData", "strData", "binData")):
        features, _, _, _ = extract_request_parts(inner)
    truth_msg = request.get("truth") or {}
    truth: Any = None
    if isinstance(truth_msg, dict) and truth_msg:
        truth, _, _, _ = extract_request_parts(_floats(truth_msg))
    routing = ((request.get("response") or {}).get("meta") or {}).get("routing", {}).get(unit_id)
    answer = client_send_feedback(user_model, features, names, reward, truth, routing)
    custom = client_custom_metrics(user_model, metrics, "send_feedback", answer.metrics)
    data = answer.data if answer.data is not None else np.array([])
    base = inner if isinstance(inner, dict) else {}
    out = construct_response(user_model, False, base, data, None, custom, answer.tags)
    return _proto_json(out)


def _proto_json(message: dict[str, Any]) -> dict[str, Any]:
    """JSON as protobuf's MessageToDict writes a SeldonMessage: floats, no empty fields."""
    out: dict[str, Any] = {}
    for key, value in message.items():
        if key == "data":
            data = {k: v for k, v in value.items() if not (k == "names" and not v)}
            if "tensor" in data:
                data["tensor"] = {
                    k: v
                    for k, v in {
                        "shape": value["tensor"]["shape"],
                        "values": _floats(value["tensor"]["values"]),
                    }.items()
                    if v
                }
            if "ndarray" in data:
                data["ndarray"] = _floats(data["ndarray"])
            out[key] = data
        elif key == "meta":
            meta = {k: v for k, v in value.items() if v not in ([], {}, None, "")}
            for field in ("metrics", "tags"):
                if field in meta:
                    meta[field] = _floats(meta[field])
            out[key] = meta
        else:
            out[key] = value
    return out


def health_status(user_model: Any, metrics: SeldonMetrics) -> Any:
    if hasattr(user_model, "health_status_raw"):
        try:
            return user_model.health_status_raw()
        except SeldonNotImplementedError:
            pass
    answer = client_health_status(user_model)
    custom = client_custom_metrics(user_model, metrics, tags_of.HEALTH_METRIC_METHOD_TAG)
    return construct_response(user_model, False, {}, answer, None, custom)


def init_metadata(user_model: Any) -> dict[str, Any] | None:
    """The validated metadata, or None when invalid (then ``/metadata`` answers 500)."""
    meta_user: Any = {}
    if hasattr(user_model, "init_metadata"):
        try:
            meta_user = user_model.init_metadata()
        except SeldonNotImplementedError:
            meta_user = {}
    if not isinstance(meta_user, dict):
        logger.error("init_metadata must return dict")
        meta_user = {}
    try:
        import yaml

        meta_env = yaml.safe_load(os.environ.get("MODEL_METADATA", "{}"))
    except ImportError:
        meta_env = json.loads(os.environ.get("MODEL_METADATA", "{}"))
    except Exception as exc:  # a bad MODEL_METADATA is logged and ignored, as in seldon-core
        logger.error("Reading metadata from MODEL_METADATA failed: %s", exc)
        meta_env = {}
    try:
        return validate_model_metadata({**meta_user, **(meta_env or {})})
    except SeldonInvalidMetadataError as exc:
        logger.error("Metadata validation error: %s", exc)
        return None

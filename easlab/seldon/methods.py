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
from easlab.seldon.messages import (
    DefaultData,
    Feedback,
    SeldonMessage,
    as_proto,
    floats,
    parse_error,
)
from easlab.seldon.metadata import SeldonInvalidMetadataError, validate_model_metadata
from easlab.seldon.metrics import SeldonMetrics, valid_raw_metrics
from easlab.seldon.payload import construct_response, extract_request_parts, names_of
from easlab.seldon.user_model import (
    bad_metric,
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


#: what :func:`_raw` answers for a component without the hook (None is a hook's answer)
_NO_RAW: Any = object()


def _raw(user_model: Any, hook: str, request: Any, metrics: SeldonMetrics, method: str) -> Any:
    """The ``*_raw`` hook's answer (None too: seldon-core answers it as JSON ``null``), or
    ``_NO_RAW`` when the component has no such hook."""
    if not hasattr(user_model, hook):
        return _NO_RAW
    try:
        response = getattr(user_model, hook)(request)
    except SeldonNotImplementedError:
        return _NO_RAW
    if isinstance(response, dict):
        found = response.get("meta", {}).get("metrics", [])
        if not valid_raw_metrics(found):
            raise bad_metric(found)
        if found and not include_metrics_in_client_response():
            del response["meta"]["metrics"]
        metrics.update(list(found), method)
    return response


def _deprecated(user_model: Any, hook: str, request: Any, grpc: bool = True) -> Any:
    """The deprecated ``<hook>_rest`` hook's answer, else ``<hook>_grpc``'s (``grpc``: all
    but predict, whose ``predict_grpc`` seldon-core calls for a gRPC request only), each
    given the request as it came, as seldon-core's seldon_methods calls them over REST
    too; ``_NO_RAW`` when the component has neither."""
    for suffix in ("_rest", "_grpc") if grpc else ("_rest",):
        if hasattr(user_model, hook + suffix):
            logger.warning("%s%s is deprecated. Please use %s_raw", hook, suffix, hook)
            return getattr(user_model, hook + suffix)(request)
    return _NO_RAW


def _data_call(user_model: Any, request: Any, metrics: SeldonMetrics, hook: str, method: str):
    raw = _raw(user_model, f"{hook}_raw", request, metrics, method)
    if raw is not _NO_RAW:
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
    deprecated = _deprecated(user_model, "predict", request, grpc=False)
    if deprecated is not _NO_RAW:
        return deprecated
    return _data_call(user_model, request, metrics, "predict", tags_of.PREDICT_METRIC_METHOD_TAG)


def transform_input(user_model: Any, request: Any, metrics: SeldonMetrics) -> Any:
    deprecated = _deprecated(user_model, "transform_input", request)
    if deprecated is not _NO_RAW:
        return deprecated
    return _data_call(
        user_model, request, metrics, "transform_input", tags_of.INPUT_TRANSFORM_METRIC_METHOD_TAG
    )


def transform_output(user_model: Any, request: Any, metrics: SeldonMetrics) -> Any:
    deprecated = _deprecated(user_model, "transform_output", request)
    if deprecated is not _NO_RAW:
        return deprecated
    return _data_call(
        user_model,
        request,
        metrics,
        "transform_output",
        tags_of.OUTPUT_TRANSFORM_METRIC_METHOD_TAG,
    )


def route(user_model: Any, request: Any, metrics: SeldonMetrics) -> Any:
    deprecated = _deprecated(user_model, "route", request)
    if deprecated is not _NO_RAW:
        return deprecated
    raw = _raw(user_model, "route_raw", request, metrics, tags_of.ROUTER_METRIC_METHOD_TAG)
    if raw is not _NO_RAW:
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
    deprecated = _deprecated(user_model, "aggregate", request)
    if deprecated is not _NO_RAW:
        return deprecated
    raw = _raw(user_model, "aggregate_raw", request, metrics, tags_of.AGGREGATE_METRIC_METHOD_TAG)
    if raw is not _NO_RAW:
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


def _deprecated_feedback(user_model: Any, feedback: Feedback) -> Any:
    """The deprecated ``send_feedback_rest`` (the Feedback as JSON text) or
    ``send_feedback_grpc`` (the message) hook's answer, read back as a SeldonMessage as
    seldon-core reads it; ``_NO_RAW`` when the component has neither."""
    if hasattr(user_model, "send_feedback_rest"):
        logger.warning("send_feedback_rest is deprecated. Please use send_feedback_raw")
        answer = user_model.send_feedback_rest(json.dumps(feedback_json(feedback), indent=2))
    elif hasattr(user_model, "send_feedback_grpc"):
        logger.warning("send_feedback_grpc is deprecated. Please use send_feedback_raw")
        answer = user_model.send_feedback_grpc(feedback)
    else:
        return _NO_RAW
    error = parse_error(SeldonMessage, answer)
    if error is not None:
        raise SeldonMicroserviceException("Invalid JSON: " + error)
    return proto_json(dict(as_proto(SeldonMessage, answer if answer is not None else {})))


def feedback_json(feedback: Any) -> dict[str, Any]:
    """A Feedback as protobuf's MessageToJson writes it (seldon_core.utils.feedback_to_json)."""
    out: dict[str, Any] = {}
    for name, value in as_proto(Feedback, dict(feedback or {})).items():
        if isinstance(value, dict):
            value = proto_json(dict(as_proto(SeldonMessage, value)))
        out[name] = value
    return {k: v for k, v in out.items() if v not in ({}, 0.0, None)}


def feedback_array(datadef: DefaultData) -> Any:
    """A Feedback's ``request.data`` or ``truth.data`` as seldon-core hands it to
    ``send_feedback``: an array of the tensor or ndarray, else an empty float array
    (no data, or a strData/jsonData/binData message)."""
    kind = datadef.WhichOneof("data_oneof")
    if kind == "tensor":
        return np.array(datadef.tensor.values, dtype=np.float64).reshape(datadef.tensor.shape)
    if kind == "ndarray":
        return np.array(datadef.ndarray)
    if kind == "tftensor":
        return extract_request_parts({"data": {"tftensor": datadef.tftensor}})[0]
    return np.array([])


def send_feedback(user_model: Any, request: Any, metrics: SeldonMetrics, unit_id: str) -> Any:
    """``/send-feedback``: seldon-core parses the body into a Feedback proto first, so
    numbers arrive (and leave) as proto types, empty fields are dropped,
    ``send_feedback_raw`` gets a :class:`~easlab.seldon.messages.Feedback` and
    ``send_feedback`` arrays (empty ones for what was not sent)."""
    if not isinstance(request, dict):
        raise SeldonMicroserviceException(f"Invalid request data type: {request}")
    error = parse_error(Feedback, request)
    if error is not None:
        raise SeldonMicroserviceException("Invalid JSON: " + error)
    feedback = as_proto(Feedback, request)
    reward = float(feedback.reward or 0.0)
    metrics.update_reward(reward)
    deprecated = _deprecated_feedback(user_model, feedback)
    if deprecated is not _NO_RAW:
        return deprecated
    raw = _raw(
        user_model, "send_feedback_raw", feedback, metrics, tags_of.FEEDBACK_METRIC_METHOD_TAG
    )
    if raw is not _NO_RAW:
        # easlab's SeldonMessage is a dict; None stays the {} easlab always answered
        return proto_json(raw) if isinstance(raw, dict) else ({} if raw is None else raw)
    features = feedback_array(feedback.request.data)
    truth = feedback_array(feedback.truth.data)
    names = list(feedback.request.data.names)
    routing = feedback.response.meta.routing.get(unit_id)
    answer = client_send_feedback(user_model, features, names, reward, truth, routing)
    custom = client_custom_metrics(
        user_model, metrics, tags_of.FEEDBACK_METRIC_METHOD_TAG, answer.metrics
    )
    data = answer.data if answer.data is not None else np.array([])
    base = feedback.get("request")
    out = construct_response(
        user_model, False, base if isinstance(base, dict) else {}, data, None, custom, answer.tags
    )
    return proto_json(out)


def proto_json(message: dict[str, Any]) -> dict[str, Any]:
    """JSON as protobuf's MessageToDict writes a SeldonMessage: floats, no empty fields."""
    out: dict[str, Any] = {}
    for key, value in message.items():
        if key == "data" and isinstance(value, dict):
            data = {k: v for k, v in value.items() if not (k == "names" and not v)}
            tensor = data.get("tensor")
            if isinstance(tensor, dict):
                shape, values = tensor.get("shape"), floats(tensor.get("values"))
                data["tensor"] = {k: v for k, v in (("shape", shape), ("values", values)) if v}
            if "ndarray" in data:
                data["ndarray"] = floats(data["ndarray"])
            out[key] = _in_field_order(data, _DATA_FIELDS)
        elif key == "meta" and isinstance(value, dict):
            meta = {k: v for k, v in value.items() if v not in ([], {}, None, "")}
            for field in ("metrics", "tags"):
                if field in meta:
                    meta[field] = floats(meta[field])
            if isinstance(meta.get("metrics"), list):
                meta["metrics"] = [_proto_metric(m) for m in meta["metrics"]]
            out[key] = _in_field_order(meta, _META_FIELDS)
        elif key == "jsonData":
            out[key] = floats(value)  # a google.protobuf.Value: every number a double
        elif key == "status" and isinstance(value, dict):
            out[key] = _in_field_order(value, _STATUS_FIELDS)
        else:
            out[key] = value
    return _in_field_order(out, _MESSAGE_FIELDS)


#: the fields of seldon-core's protos in their numbers' order, the order MessageToDict
#: writes them (seen where FLASK_JSON_SORT_KEYS=false keeps it)
_MESSAGE_FIELDS = ("status", "meta", "data", "binData", "strData", "jsonData", "customData")
_DATA_FIELDS = ("names", "tensor", "ndarray", "tftensor")
_META_FIELDS = ("puid", "tags", "routing", "requestPath", "metrics")
_METRIC_FIELDS = ("key", "type", "value", "tags")
_STATUS_FIELDS = ("code", "info", "reason", "status")


def _in_field_order(message: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """``message``'s keys in the proto's field order, any others after them."""
    rank = {name: index for index, name in enumerate(fields)}
    return dict(sorted(message.items(), key=lambda item: rank.get(item[0], len(fields))))


def _shortest_float32(value: Any) -> Any:
    """A proto ``float`` field as MessageToDict writes it: held in 32 bits, printed with
    the fewest digits that read back the same (protobuf's ToShortestFloat): 0.1 stays
    0.1, 12345678901 becomes 12345679000.0; a numpy scalar is a plain float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        return value
    held = float(np.float32(value))
    if not np.isfinite(held):
        return held
    precision = 6
    while True:
        shortest = float(f"{held:.{precision}g}")
        if float(np.float32(shortest)) == held:
            return shortest
        precision += 1


def _proto_metric(metric: Any) -> Any:
    """A ``Metric`` as MessageToDict writes it: its defaults left out (type COUNTER, the
    enum's first value; a zero value; no tags)."""
    if not isinstance(metric, dict):
        return metric
    defaults = {"type": "COUNTER", "value": 0.0, "tags": {}, "key": ""}
    metric = (
        {**metric, "value": _shortest_float32(metric["value"])} if "value" in metric else metric
    )
    kept = {k: v for k, v in metric.items() if not (k in defaults and v == defaults[k])}
    return _in_field_order(kept, _METRIC_FIELDS)


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

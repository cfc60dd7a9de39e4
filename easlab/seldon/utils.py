"""``seldon_core.utils`` as component code calls it (easlab's implementation, SPEC §6).

Components build their ``*_raw`` answers with these helpers (``from seldon_core.utils
import *`` is common): the JSON ones (``extract_request_parts_json``,
``construct_response_json``, ``array_to_rest_datadef``) are what seldon-core's REST path
uses; the proto ones work on easlab's messages (easlab/seldon/messages.py: the JSON dict
with protobuf's number types), so ``json_to_seldon_message`` then ``get_data_from_proto``
gives the float array seldon-core gives.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from easlab.seldon.errors import SeldonMicroserviceException
from easlab.seldon.messages import (
    DefaultData,
    Feedback,
    SeldonMessage,
    SeldonMessageList,
    as_proto,
    floats,
    parse_error,
)
from easlab.seldon.methods import feedback_array, feedback_json, proto_json
from easlab.seldon.payload import construct_response as _construct_json
from easlab.seldon.payload import extract_request_parts as _extract_json
from easlab.seldon.payload import request_path_of_env

#: seldon_core.env_utils: the variables a graph unit is named by, and their defaults
ENV_MODEL_NAME = "PREDICTIVE_UNIT_ID"
ENV_MODEL_IMAGE = "PREDICTIVE_UNIT_IMAGE"
NONIMPLEMENTED_MSG = "NOT_IMPLEMENTED"
NONIMPLEMENTED_IMAGE_MSG = f"{NONIMPLEMENTED_MSG}:{NONIMPLEMENTED_MSG}"


def get_model_name(default_val: str = NONIMPLEMENTED_MSG) -> str:
    """The graph unit's name (``PREDICTIVE_UNIT_ID``), else ``default_val``."""
    return os.environ.get(ENV_MODEL_NAME, default_val)


def get_image_name(default_val: str = NONIMPLEMENTED_IMAGE_MSG) -> str:
    """The graph unit's image (``PREDICTIVE_UNIT_IMAGE``), else ``default_val``."""
    return os.environ.get(ENV_MODEL_IMAGE, default_val)


def getenv(*env_vars: str, default: Any = None) -> Any:
    """The first of ``env_vars`` that is set, else ``default``."""
    for env_var in env_vars:
        if env_var in os.environ:
            return os.environ.get(env_var)
    return default


def getenv_as_bool(*env_vars: str, default: bool = False) -> bool:
    """The first of ``env_vars`` that is set, as a bool ("1", "true", "t"), else ``default``."""
    value = getenv(*env_vars)
    if value is None:
        return default
    return value.lower() in ("1", "true", "t")


def get_request_path() -> dict[str, str]:
    """``{PREDICTIVE_UNIT_ID: PREDICTIVE_UNIT_IMAGE}``, or ``{}`` without a unit id."""
    return request_path_of_env()


def construct_response_json(
    user_model: Any,
    is_request: bool,
    client_request_raw: Any,
    client_raw_response: Any,
    meta: dict[str, Any] | None = None,
    custom_metrics: list[dict[str, Any]] | None = None,
    runtime_tags: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The SeldonMessage JSON answering ``client_request_raw`` with a component's result."""
    return _construct_json(
        user_model,
        is_request,
        client_request_raw,
        client_raw_response,
        meta,
        custom_metrics,
        runtime_tags,
    )


def construct_response(
    user_model: Any,
    is_request: bool,
    client_request: Any,
    client_raw_response: Any,
    meta: dict[str, Any] | None = None,
    custom_metrics: list[dict[str, Any]] | None = None,
    runtime_tags: dict[str, Any] | None = None,
) -> SeldonMessage:
    """The SeldonMessage answering ``client_request`` (a message): the JSON answer as a
    message, so its numbers are protobuf's (floats), as seldon-core's proto path gives."""
    request = client_request if isinstance(client_request, dict) else {}
    answer = construct_response_json(
        user_model, is_request, request, client_raw_response, meta, custom_metrics, runtime_tags
    )
    return json_to_seldon_message(seldon_message_to_json(answer))


def extract_request_parts_json(request: Any) -> tuple[Any, Any, Any, str]:
    """``(features, meta, datadef, data_type)`` of a SeldonMessage JSON dict."""
    return _extract_json(request)


def extract_request_parts(request: Any) -> tuple[Any, dict[str, Any], DefaultData, str | None]:
    """``(features, meta, datadef, data_type)`` of a SeldonMessage (a dict is read as
    one): the features as ``get_data_from_proto`` gives them (tensor values float64)."""
    if not isinstance(request, SeldonMessage):
        request = json_to_seldon_message(request)
    return (
        get_data_from_proto(request),
        get_meta_from_proto(request),
        request.data,
        request.WhichOneof("data_oneof"),
    )


def array_to_rest_datadef(
    data_type: str, array: np.ndarray, names: Iterable[str] | None = None
) -> dict[str, Any]:
    """A ``data`` dict holding ``array`` as ``data_type`` (tensor, ndarray, tftensor)."""
    datadef: dict[str, Any] = {"names": list(names) if names is not None else []}
    if data_type == "tensor":
        datadef["tensor"] = {"shape": array.shape, "values": array.ravel().tolist()}
    elif data_type == "tftensor":
        from easlab.seldon.payload import _tftensor

        datadef["tftensor"] = _tftensor(array)
    else:
        datadef["ndarray"] = array.tolist()
    return datadef


def array_to_grpc_datadef(
    data_type: str, array: np.ndarray, names: Iterable[str] | None = None
) -> DefaultData:
    """A ``DefaultData`` message holding ``array`` (numbers as protobuf keeps them)."""
    datadef = array_to_rest_datadef(data_type, array, names)
    if "tensor" in datadef:
        datadef["tensor"]["shape"] = list(datadef["tensor"]["shape"])
    return as_proto(DefaultData, datadef)


def array_to_list_value(array: np.ndarray, lv: Any = None) -> Any:
    """``array`` as a ``google.protobuf.struct_pb2.ListValue`` (nested lists for its
    rows), appended to ``lv`` when given."""
    from google.protobuf.struct_pb2 import ListValue

    out = ListValue() if lv is None else lv
    if len(array.shape) == 1:
        out.extend(array.tolist())
    else:
        for row in array:
            array_to_list_value(row, out.add_list())
    return out


def json_to_seldon_model_metadata(metadata_json: Any) -> dict[str, Any]:
    """Model metadata (``name``, ``versions``, ``platform``, ``inputs``, ``outputs``) read
    as seldon-core reads it into its SeldonModelMetadata: other fields dropped, a field of
    the wrong kind a SeldonMicroserviceException ("Invalid metadata: ...").
    easlab answers the dict (no SeldonModelMetadata class)."""
    if metadata_json is None:
        return {}
    if not isinstance(metadata_json, dict):
        raise SeldonMicroserviceException(
            f"Invalid metadata: expected a JSON object, got {type(metadata_json).__name__}"
        )
    kinds = {"name": str, "platform": str, "versions": list, "inputs": list, "outputs": list}
    out: dict[str, Any] = {}
    for key, kind in kinds.items():
        if key not in metadata_json:
            continue
        value = metadata_json[key]
        if not isinstance(value, kind):
            raise SeldonMicroserviceException(
                f"Invalid metadata: field {key} must be a {kind.__name__}, got {value!r}"
            )
        out[key] = value
    return out


def setup_tracing(interface_name: str) -> object:
    """seldon-core's Jaeger tracer setup: easlab serves without tracing, so a component
    that calls it is told so (seldon-core itself needs the jaeger_client package)."""
    raise SeldonMicroserviceException(
        f"setup_tracing({interface_name!r}): easlab does not emulate seldon-core's Jaeger "
        "tracing; remove the call (or guard it with an environment flag) to serve locally",
        status_code=500,
    )


def _parsed(kind: Any, message_json: Any) -> Any:
    error = parse_error(kind, message_json)
    if error is not None:
        raise SeldonMicroserviceException("Invalid JSON: " + error)
    return as_proto(kind, message_json if message_json is not None else {})


def json_to_seldon_message(message_json: Any) -> SeldonMessage:
    """A SeldonMessage of ``message_json`` (400 "Invalid JSON: ..." for a field it lacks)."""
    return _parsed(SeldonMessage, message_json)


def json_to_feedback(message_json: Any) -> Feedback:
    """A Feedback of ``message_json``."""
    return _parsed(Feedback, message_json)


def json_to_seldon_messages(message_json: Any) -> SeldonMessageList:
    """A SeldonMessageList of ``message_json`` (``{"seldonMessages": [...]}``)."""
    return _parsed(SeldonMessageList, message_json)


def seldon_message_to_json(message_proto: Any) -> dict[str, Any]:
    """A message as protobuf's MessageToJson writes it: numbers as floats, empty fields left out."""
    if not isinstance(message_proto, dict):
        raise SeldonMicroserviceException(f"Invalid request data type: {message_proto}")
    return proto_json(dict(as_proto(SeldonMessage, message_proto)))


def seldon_messages_to_json(message_protos: Any) -> dict[str, Any]:
    messages = [seldon_message_to_json(m) for m in (message_protos or {}).get("seldonMessages", [])]
    return {"seldonMessages": messages} if messages else {}


def feedback_to_json(message_proto: Any) -> dict[str, Any]:
    """A Feedback as protobuf's MessageToJson writes it."""
    return feedback_json(message_proto)


def grpc_datadef_to_array(datadef: Any) -> np.ndarray:
    """A ``DefaultData``'s tensor, ndarray or tftensor as an array (tensor values float64)."""
    if not isinstance(datadef, DefaultData):
        datadef = as_proto(DefaultData, datadef or {})
    return feedback_array(datadef)


def get_data_from_proto(request: Any) -> Any:
    """A SeldonMessage's payload: an array for ``data``, else its bytes, text or JSON."""
    if not isinstance(request, SeldonMessage):
        request = as_proto(SeldonMessage, request or {})
    kind = request.WhichOneof("data_oneof")
    if kind == "data":
        return grpc_datadef_to_array(request.data)
    if kind in ("binData", "strData", "customData"):
        return getattr(request, kind)
    if kind == "jsonData":
        return floats(request["jsonData"])
    raise SeldonMicroserviceException("Unknown data in SeldonMessage")


def get_meta_from_proto(request: Any) -> dict[str, Any]:
    """A SeldonMessage's ``meta`` as MessageToDict writes it."""
    meta = (request or {}).get("meta") if isinstance(request, dict) else None
    if not isinstance(meta, dict):
        return {}
    return seldon_message_to_json({"meta": meta}).get("meta", {})


def extract_feedback_request_parts(request: Any) -> tuple[Any, np.ndarray, np.ndarray, float]:
    """``(request.data, features, truth, reward)`` of a Feedback."""
    if not isinstance(request, Feedback):
        request = json_to_feedback(request)
    features = grpc_datadef_to_array(request.request.data)
    truth = grpc_datadef_to_array(request.truth.data)
    return request.request.data, features, truth, request.reward


__all__ = [
    "ENV_MODEL_IMAGE",
    "ENV_MODEL_NAME",
    "NONIMPLEMENTED_IMAGE_MSG",
    "NONIMPLEMENTED_MSG",
    "array_to_grpc_datadef",
    "array_to_list_value",
    "array_to_rest_datadef",
    "construct_response",
    "construct_response_json",
    "extract_feedback_request_parts",
    "extract_request_parts",
    "extract_request_parts_json",
    "feedback_to_json",
    "get_data_from_proto",
    "get_image_name",
    "get_meta_from_proto",
    "get_model_name",
    "get_request_path",
    "getenv",
    "getenv_as_bool",
    "grpc_datadef_to_array",
    "json_to_feedback",
    "json_to_seldon_message",
    "json_to_seldon_messages",
    "json_to_seldon_model_metadata",
    "seldon_message_to_json",
    "seldon_messages_to_json",
    "setup_tracing",
]

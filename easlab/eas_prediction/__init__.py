"""easlab's ``eas_prediction``: the official client's import paths over easlab's code.

Code written for ``eas_prediction`` 0.36 runs after changing its imports from
``eas_prediction`` to ``easlab.eas_prediction``: every public name of every
official module resolves here under the same module path (``from
easlab.eas_prediction.tf_request_pb2 import PredictRequest``, ``from
easlab.eas_prediction import OnnxDataHelper``...). The modules are thin
re-exports of easlab's own implementations (easlab.wire, easlab.client) and
its generated protobuf modules; nothing of the official package is copied.
Names resolve lazily, so ``import easlab.eas_prediction`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from easlab._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "PredictException": "easlab.errors",
    "PredictClient": "easlab.client.predict_client",
    "ENDPOINT_TYPE_DIRECT": "easlab.client.predict_client",
    "ENDPOINT_TYPE_VIPSERVER": "easlab.client.predict_client",
    "ENDPOINT_TYPE_DEFAULT": "easlab.client.predict_client",
    "TFRequest": "easlab.wire.tf",
    "TFResponse": "easlab.wire.tf",
    "TorchRequest": "easlab.wire.torch",
    "TorchResponse": "easlab.wire.torch",
    "BladeRequest": "easlab.wire.blade",
    "BladeResponse": "easlab.wire.blade",
    "StringRequest": "easlab.wire.string",
    "StringResponse": "easlab.wire.string",
    "OnnxRequest": "easlab.wire.onnx",
    "OnnxResponse": "easlab.wire.onnx",
    "OnnxData": "easlab.eas_prediction.onnx_request",
    "OnnxDataHelper": "easlab.eas_prediction._modules",
    "QueueClient": "easlab.client.queue",
}

#: The modules the official ``__init__`` imports, and so makes attributes of the package:
#: ``import eas_prediction`` then ``eas_prediction.tf_request_pb2.PredictRequest()`` works,
#: and here too, each module imported on first use.
_SUBMODULES = frozenset(
    {
        "blade_pb2",
        "blade_request",
        "cacheserver_endpoint",
        "endpoint",
        "exception",
        "gateway_endpoint",
        "onnx_processor_data_helper",
        "onnx_processor_data_pb2",
        "onnx_request",
        "predict_client",
        "pytorch_predict_pb2",
        "queue_client",
        "queue_types",
        "request",
        "string_request",
        "tf_request",
        "tf_request_pb2",
        "torch_request",
        "vipserver_endpoint",
        "weighted_round_robin",
    }
)

__all__ = sorted(_EXPORTS)

_export, _exported = lazy_exports(__name__, _EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")  # binds it in the package
    return _export(name)


def __dir__() -> list[str]:
    return sorted({*_exported(), *_SUBMODULES})

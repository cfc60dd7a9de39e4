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

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

"""The wire layer: EAS request/response formats as numpy-first Python objects.

Each format module holds the client classes (official ``eas_prediction``
surface plus numpy forms) and the server-side codec the kernel's processors
use (``parse_*_request`` / ``encode_*_response``). Format modules are imported
lazily so ``import easlab.wire`` stays cheap.
"""

from __future__ import annotations

from easlab._lazy import lazy_exports
from easlab.wire.base import WireError

_EXPORTS: dict[str, str] = {
    "TFRequest": "easlab.wire.tf",
    "TFResponse": "easlab.wire.tf",
    "TorchRequest": "easlab.wire.torch",
    "TorchResponse": "easlab.wire.torch",
    "BladeRequest": "easlab.wire.blade",
    "BladeTFRequest": "easlab.wire.blade",
    "BladeResponse": "easlab.wire.blade",
    "CaffeRequest": "easlab.wire.caffe",
    "CaffeResponse": "easlab.wire.caffe",
    "StringRequest": "easlab.wire.string",
    "StringResponse": "easlab.wire.string",
    "JsonRequest": "easlab.wire.json",
    "JsonResponse": "easlab.wire.json",
    "OnnxRequest": "easlab.wire.onnx",
    "OnnxResponse": "easlab.wire.onnx",
    "EasyRecRequest": "easlab.wire.easyrec",
    "EasyRecResponse": "easlab.wire.easyrec",
    "TorchRecRequest": "easlab.wire.torchrec",
    "TorchRecResponse": "easlab.wire.torchrec",
    "build_request": "easlab.wire.build",
    "request_from_signature": "easlab.wire.build",
}

__all__ = ["WireError", *sorted(_EXPORTS)]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, tuple(__all__))

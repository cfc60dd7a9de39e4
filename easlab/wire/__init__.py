"""The wire layer: EAS request/response formats as numpy-first Python objects.

Each format module holds the client classes (official ``eas_prediction``
surface plus numpy forms) and the server-side codec the kernel's processors
use (``parse_*_request`` / ``encode_*_response``). Format modules are imported
lazily so ``import easlab.wire`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

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
    "build_request": "easlab.wire.build",
    "request_from_signature": "easlab.wire.build",
}

__all__ = ["WireError", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'easlab.wire' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__

"""Clients of an EAS service: ``PredictClient`` (data plane) and the kernel's control API.

Names resolve lazily, so importing this package costs nothing until a client is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "PredictClient": "easlab.client.predict_client",
    "ENDPOINT_TYPE_DEFAULT": "easlab.client.predict_client",
    "ENDPOINT_TYPE_GATEWAY": "easlab.client.predict_client",
    "ENDPOINT_TYPE_DIRECT": "easlab.client.predict_client",
    "ENDPOINT_TYPE_VIPSERVER": "easlab.client.predict_client",
    "Latency": "easlab.client.latency",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'easlab.client' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

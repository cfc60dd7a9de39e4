"""Clients of an EAS service: ``PredictClient`` (data plane) and the kernel's control API.

``PredictClient`` keeps the policy (endpoint choice, signing, retries) and sends through a
``Transport`` (``HTTPTransport`` by default, ``MockTransport`` in tests).

Names resolve lazily, so importing this package costs nothing until a client is used.
"""

from __future__ import annotations

from easlab._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "PredictClient": "easlab.client.predict_client",
    "ENDPOINT_TYPE_DEFAULT": "easlab.client.predict_client",
    "ENDPOINT_TYPE_GATEWAY": "easlab.client.predict_client",
    "ENDPOINT_TYPE_DIRECT": "easlab.client.predict_client",
    "ENDPOINT_TYPE_VIPSERVER": "easlab.client.predict_client",
    "Latency": "easlab.client.latency",
    "Transport": "easlab.client.transport",
    "HTTPTransport": "easlab.client.transport",
    "MockTransport": "easlab.client.transport",
    "TransportError": "easlab.client.transport",
    "EasAuth": "easlab.client.auth",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, tuple(__all__))

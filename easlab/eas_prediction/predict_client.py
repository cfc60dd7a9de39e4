"""``eas_prediction.predict_client``: ``PredictClient``, the endpoint types and classes."""

from __future__ import annotations

from easlab.client.endpoints import (
    CacheServerEndpoint,
    GatewayEndpoint,
    VipServerEndpoint,
)
from easlab.client.predict_client import (
    ENDPOINT_TYPE_DEFAULT,
    ENDPOINT_TYPE_DIRECT,
    ENDPOINT_TYPE_GATEWAY,
    ENDPOINT_TYPE_VIPSERVER,
    PredictClient,
)
from easlab.errors import (
    PredictException,
)

__all__ = [
    "ENDPOINT_TYPE_DEFAULT",
    "ENDPOINT_TYPE_DIRECT",
    "ENDPOINT_TYPE_GATEWAY",
    "ENDPOINT_TYPE_VIPSERVER",
    "PredictClient",
    "CacheServerEndpoint",
    "GatewayEndpoint",
    "VipServerEndpoint",
    "PredictException",
]

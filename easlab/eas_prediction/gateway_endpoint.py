"""``eas_prediction.gateway_endpoint``."""

from __future__ import annotations

from easlab.client.endpoints import (
    Endpoint,
    GatewayEndpoint,
)
from easlab.errors import (
    PredictException,
)

__all__ = ["Endpoint", "GatewayEndpoint", "PredictException"]

"""``eas_prediction.vipserver_endpoint``."""

from __future__ import annotations

from easlab.client.endpoints import (
    Endpoint,
    VipServerEndpoint,
)
from easlab.errors import (
    PredictException,
)

__all__ = ["Endpoint", "VipServerEndpoint", "PredictException"]

"""``eas_prediction.endpoint``: the endpoint base."""

from __future__ import annotations

from easlab.client.endpoints import (
    Endpoint,
    WRRScheduler,
    endpoint_sort_func,
)
from easlab.errors import (
    PredictException,
)

__all__ = ["Endpoint", "WRRScheduler", "endpoint_sort_func", "PredictException"]

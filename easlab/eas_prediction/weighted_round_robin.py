"""``eas_prediction.weighted_round_robin``: ``WRRScheduler``."""

from __future__ import annotations

from easlab.client.endpoints import (
    WRRScheduler,
)

__all__ = ["WRRScheduler"]

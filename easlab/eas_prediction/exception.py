"""``eas_prediction.exception``: ``PredictException`` (code, message)."""

from __future__ import annotations

from easlab.errors import (
    PredictException,
)

__all__ = ["PredictException"]

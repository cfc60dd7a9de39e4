"""``eas_prediction.request``: the request and response bases."""

from __future__ import annotations

from easlab.wire.base import (
    Request,
    Response,
)

__all__ = ["Request", "Response"]

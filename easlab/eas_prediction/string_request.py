"""``eas_prediction.string_request``: raw-bytes requests."""

from __future__ import annotations

from easlab.wire.base import (
    Request,
    Response,
)
from easlab.wire.string import (
    StringRequest,
    StringResponse,
)

__all__ = ["Request", "Response", "StringRequest", "StringResponse"]

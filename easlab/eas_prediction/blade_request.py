"""``eas_prediction.blade_request``: Blade requests (numpy forms too)."""

from __future__ import annotations

from easlab.eas_prediction import blade_pb2
from easlab.wire.base import (
    Request,
    Response,
)
from easlab.wire.blade import (
    BladeRequest,
    BladeResponse,
)

__all__ = ["blade_pb2", "Request", "Response", "BladeRequest", "BladeResponse"]

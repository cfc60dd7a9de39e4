"""``eas_prediction.blade_tf_request``: Blade requests in TensorFlow form (``TFRequest`` here is easlab's ``BladeTFRequest``)."""

from __future__ import annotations

from easlab.eas_prediction import blade_pb2
from easlab.wire.base import (
    Request,
    Response,
)
from easlab.wire.blade import (
    BladeResponse as TFResponse,
)
from easlab.wire.blade import (
    BladeTFRequest as TFRequest,
)

__all__ = ["blade_pb2", "Request", "Response", "TFRequest", "TFResponse"]

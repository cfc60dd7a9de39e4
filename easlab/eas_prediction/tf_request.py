"""``eas_prediction.tf_request``: TensorFlow requests (numpy forms too)."""

from __future__ import annotations

from easlab.eas_prediction import tf_request_pb2 as tf_pb
from easlab.wire.base import (
    Request,
    Response,
)
from easlab.wire.tf import (
    TFRequest,
    TFResponse,
)

__all__ = ["tf_pb", "Request", "Response", "TFRequest", "TFResponse"]

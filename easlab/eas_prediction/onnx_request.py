"""``eas_prediction.onnx_request``: ONNX requests (numpy forms too); ``OnnxData`` is the messages' module."""

from __future__ import annotations

from easlab.eas_prediction import onnx_processor_data_pb2 as OnnxData  # noqa: N812  (the official name)
from easlab.wire.base import (
    Request,
    Response,
)
from easlab.wire.onnx import (
    OnnxRequest,
    OnnxResponse,
)

__all__ = ["OnnxData", "OnnxRequest", "OnnxResponse", "Request", "Response"]

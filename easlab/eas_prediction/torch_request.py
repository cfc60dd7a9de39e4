"""``eas_prediction.torch_request``: PyTorch requests (numpy forms too)."""

from __future__ import annotations

from easlab.eas_prediction import pytorch_predict_pb2 as pt_pb
from easlab.wire.base import (
    Request,
    Response,
)
from easlab.wire.torch import (
    TorchRequest,
    TorchResponse,
)

__all__ = ["pt_pb", "Request", "Response", "TorchRequest", "TorchResponse"]

"""``eas_prediction.torchrec_request``: TorchRec requests (dict/DataFrame forms too)."""

from __future__ import annotations

from easlab.eas_prediction.torchrec_predict_pb2 import (
    PBFeature,
    PBRequest,
    PBResponse,
)
from easlab.wire.base import (
    Request,
)
from easlab.wire.torchrec import (
    TorchRecRequest,
)

__all__ = ["Request", "TorchRecRequest", "PBFeature", "PBRequest", "PBResponse"]

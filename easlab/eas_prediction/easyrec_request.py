"""``eas_prediction.easyrec_request``: EasyRec requests (dict/DataFrame forms too)."""

from __future__ import annotations

from easlab.eas_prediction.easyrec_predict_pb2 import (
    PBRequest,
    PBResponse,
)
from easlab.wire.base import (
    Request,
    Response,
)
from easlab.wire.easyrec import (
    EasyRecRequest,
)

__all__ = ["Request", "Response", "EasyRecRequest", "PBRequest", "PBResponse"]

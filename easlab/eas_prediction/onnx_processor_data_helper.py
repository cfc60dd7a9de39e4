"""``eas_prediction.onnx_processor_data_helper``: TensorProto ⇄ numpy (``from_array``, ``to_array``)."""

from __future__ import annotations

from easlab.eas_prediction import onnx_processor_data_pb2 as OnnxData  # noqa: N812  (the official name)
from easlab.wire.onnx_tensor import (
    NP_TYPE_TO_TENSOR_TYPE,
    TENSOR_TYPE_TO_NP_TYPE,
    convert_endian,
    from_array,
    to_array,
)

__all__ = [
    "OnnxData",
    "NP_TYPE_TO_TENSOR_TYPE",
    "TENSOR_TYPE_TO_NP_TYPE",
    "convert_endian",
    "from_array",
    "to_array",
]

"""ONNX ``TensorProto`` messages ⇄ numpy arrays (the generated-module form).

The functions of the official ``onnx_processor_data_helper`` under their
names: ``from_array(arr, name)`` gives a ``TensorProto`` for
``OnnxRequest.add_tensor``; ``to_array(tensor)`` reads one back. Data travels
as little-endian ``raw_data`` (SPEC.md §3), whatever the host's byte order.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from easlab.errors import DTypeError
from easlab.wire import dtypes as d

__all__ = [
    "TENSOR_TYPE_TO_NP_TYPE",
    "NP_TYPE_TO_TENSOR_TYPE",
    "to_array",
    "from_array",
    "convert_endian",
    "ArrayTypeError",
    "ElementTypeError",
]


class ArrayTypeError(DTypeError, RuntimeError):
    """``from_array`` got a numpy dtype ONNX has no element type for; a ``RuntimeError``
    as well, which the official helper raises there."""


class ElementTypeError(DTypeError, TypeError, KeyError):
    """``to_array`` got an element type with no numpy dtype; a ``TypeError`` (the official
    helper's for UNDEFINED) and a ``KeyError`` (its for any other unknown code) as well."""

    __str__ = DTypeError.__str__  # the message, not KeyError's quoted repr of it


#: ONNX element type code → numpy dtype
TENSOR_TYPE_TO_NP_TYPE: dict[int, np.dtype[Any]] = {
    code: np.dtype(name) for code, name in d.ONNX_TO_NUMPY.items()
}
#: numpy dtype → ONNX element type code
NP_TYPE_TO_TENSOR_TYPE: dict[np.dtype[Any], int] = {v: k for k, v in TENSOR_TYPE_TO_NP_TYPE.items()}


def _pb() -> Any:
    return importlib.import_module("easlab.wire.proto.onnx_predict_pb2")


def to_array(tensor: Any) -> np.ndarray:
    """A ``TensorProto``'s ``raw_data`` as a numpy array of its ``dims``."""
    code = int(tensor.data_type)
    dtype = TENSOR_TYPE_TO_NP_TYPE.get(code)
    if dtype is None:
        what = "is not defined (0)" if code == 0 else f"{code} has no numpy dtype here"
        raise ElementTypeError(
            f"tensor {tensor.name!r}: element type {what}; set data_type to one of "
            f"{sorted(TENSOR_TYPE_TO_NP_TYPE)} (OnnxData.TensorProto.FLOAT, ...)"
        )
    little = np.frombuffer(tensor.raw_data, dtype=dtype.newbyteorder("<"))
    return little.astype(dtype, copy=False).reshape(list(tensor.dims))


def from_array(arr: Any, name: str) -> Any:
    """A ``TensorProto`` named ``name`` holding ``arr`` (little-endian ``raw_data``)."""
    arr = np.asarray(arr)
    native = arr.dtype.newbyteorder("=")
    code = NP_TYPE_TO_TENSOR_TYPE.get(native)
    if code is None:
        raise ArrayTypeError(
            f"tensor {name!r}: numpy dtype {arr.dtype} has no ONNX element type; "
            f"supported: {', '.join(sorted(str(t) for t in NP_TYPE_TO_TENSOR_TYPE))}"
        )
    tensor = _pb().TensorProto()
    tensor.dims.extend(arr.shape)
    tensor.name = name
    tensor.data_type = code
    tensor.raw_data = np.ascontiguousarray(arr, dtype=native.newbyteorder("<")).tobytes()
    return tensor


def convert_endian(tensor: Any) -> None:
    """Byte-swap a ``TensorProto``'s ``raw_data`` in place (between big- and little-endian)."""
    dtype = TENSOR_TYPE_TO_NP_TYPE[int(tensor.data_type)]
    tensor.raw_data = np.frombuffer(tensor.raw_data, dtype=dtype).byteswap().tobytes()

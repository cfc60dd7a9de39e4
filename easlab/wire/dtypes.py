"""Wire dtype codes of each EAS format and their numpy counterparts (SPEC.md §3).

TensorFlow and PyTorch share ``ArrayDataType``; Blade has its own small enum;
ONNX uses ONNX's TensorProto numbering. Each table says which numpy dtype a
code decodes to and which ``ArrayProto`` value field carries it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# ---- TensorFlow / PyTorch ArrayDataType
DT_INVALID = 0
DT_FLOAT = 1
DT_DOUBLE = 2
DT_INT32 = 3
DT_UINT8 = 4
DT_INT16 = 5
DT_INT8 = 6
DT_STRING = 7
DT_COMPLEX64 = 8
DT_INT64 = 9
DT_BOOL = 10
DT_QINT8 = 11
DT_QUINT8 = 12
DT_QINT32 = 13
DT_BFLOAT16 = 14
DT_QINT16 = 15
DT_QUINT16 = 16
DT_UINT16 = 17
DT_COMPLEX128 = 18
DT_HALF = 19
DT_RESOURCE = 20
DT_VARIANT = 21

TF_DTYPE_NAMES: dict[int, str] = {
    code: name
    for name, code in globals().items()
    if name.startswith("DT_") and isinstance(code, int)
}

# ArrayProto value fields (TF and Torch share numbers 3..7; bool_val is TF only)
FLOAT_VAL, DOUBLE_VAL, INT_VAL, STRING_VAL, INT64_VAL, BOOL_VAL = 3, 4, 5, 6, 7, 8

# code -> (numpy dtype as it travels, value field). SPEC §3: half, bfloat16 and
# complex64 (re/im pairs) travel in float_val; complex128 in double_val;
# uint16 and the quantized types in int_val.
TF_WIRE: dict[int, tuple[str, int]] = {
    DT_FLOAT: ("float32", FLOAT_VAL),
    DT_DOUBLE: ("float64", DOUBLE_VAL),
    DT_INT32: ("int32", INT_VAL),
    DT_UINT8: ("uint8", INT_VAL),
    DT_INT16: ("int16", INT_VAL),
    DT_INT8: ("int8", INT_VAL),
    DT_STRING: ("object", STRING_VAL),
    DT_COMPLEX64: ("complex64", FLOAT_VAL),
    DT_INT64: ("int64", INT64_VAL),
    DT_BOOL: ("bool", BOOL_VAL),
    DT_QINT8: ("int8", INT_VAL),
    DT_QUINT8: ("uint8", INT_VAL),
    DT_QINT32: ("int32", INT_VAL),
    DT_BFLOAT16: ("bfloat16", FLOAT_VAL),
    DT_QINT16: ("int16", INT_VAL),
    DT_QUINT16: ("uint16", INT_VAL),
    DT_UINT16: ("uint16", INT_VAL),
    DT_COMPLEX128: ("complex128", DOUBLE_VAL),
    DT_HALF: ("float16", FLOAT_VAL),
}

# numpy dtype name -> TF code (the non-quantized code for each numpy type)
NUMPY_TO_TF: dict[str, int] = {
    "float32": DT_FLOAT,
    "float64": DT_DOUBLE,
    "int32": DT_INT32,
    "uint8": DT_UINT8,
    "int16": DT_INT16,
    "int8": DT_INT8,
    "complex64": DT_COMPLEX64,
    "int64": DT_INT64,
    "bool": DT_BOOL,
    "bfloat16": DT_BFLOAT16,
    "uint16": DT_UINT16,
    "complex128": DT_COMPLEX128,
    "float16": DT_HALF,
}

# Torch's ArrayProto has no bool_val field; everything else matches TF.
TORCH_WIRE: dict[int, tuple[str, int]] = {c: w for c, w in TF_WIRE.items() if c != DT_BOOL}
NUMPY_TO_TORCH: dict[str, int] = {n: c for n, c in NUMPY_TO_TF.items() if c != DT_BOOL}

# ---- Blade DataType
BLADE_DT_UNKNOWN = 0
BLADE_DT_FLOAT = 1
BLADE_DT_INT32 = 2
BLADE_DT_INT64 = 3
BLADE_DT_STRING = 4
BLADE_FLOAT_VAL, BLADE_INT_VAL, BLADE_INT64_VAL, BLADE_STRING_VAL = 5, 6, 7, 8
BLADE_WIRE: dict[int, tuple[str, int]] = {
    BLADE_DT_FLOAT: ("float32", BLADE_FLOAT_VAL),
    BLADE_DT_INT32: ("int32", BLADE_INT_VAL),
    BLADE_DT_INT64: ("int64", BLADE_INT64_VAL),
    BLADE_DT_STRING: ("object", BLADE_STRING_VAL),
}
NUMPY_TO_BLADE: dict[str, int] = {
    "float32": BLADE_DT_FLOAT,
    "int32": BLADE_DT_INT32,
    "int64": BLADE_DT_INT64,
}
BLADE_FIELD_TO_DT = {field: code for code, (_, field) in BLADE_WIRE.items()}

# ---- ONNX TensorProto.DataType (SPEC §3 numbering; BOOL=9 is ONNX's own number)
ONNX_UNDEFINED = 0
ONNX_TO_NUMPY: dict[int, str] = {
    1: "float32",
    2: "uint8",
    3: "int8",
    4: "uint16",
    5: "int16",
    6: "int32",
    7: "int64",
    9: "bool",
    10: "float16",
    11: "float64",
    12: "uint32",
    13: "uint64",
}
NUMPY_TO_ONNX: dict[str, int] = {n: c for c, n in ONNX_TO_NUMPY.items()}


def is_string_dtype(dtype: np.dtype[Any]) -> bool:
    """Object, bytes and str arrays all travel as DT_STRING."""
    return dtype.kind in "OSU"


def bfloat16_dtype() -> np.dtype[Any] | None:
    """numpy's bfloat16 from ml_dtypes when installed (TensorFlow and JAX ship it)."""
    try:
        import ml_dtypes
    except ImportError:
        return None
    return np.dtype(ml_dtypes.bfloat16)


def numpy_dtype(name: str) -> np.dtype[Any]:
    """The numpy dtype a wire table names; bfloat16 falls back to float32 without ml_dtypes."""
    if name == "bfloat16":
        return bfloat16_dtype() or np.dtype(np.float32)
    return np.dtype(name)

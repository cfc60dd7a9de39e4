"""Caffe-format requests and responses (SPEC.md §3, proto2 package ``caffe.eas``).

Inputs are named float32 blobs: ``CaffeRequest().add_feed("data", x)`` or the
flat form ``add_feed("data", [1, 3, 224, 224], flat)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from easlab.errors import DTypeError, RequestError
from easlab.wire.base import (
    I32,
    LEN,
    VARINT,
    Buffer,
    Request,
    WireError,
    check_count,
    check_shape,
    decode_varints,
    encode_varints,
    iter_fields,
    le_view,
    len_field,
    text,
)
from easlab.wire.tensor import WireTensor, as_array, content_array
from easlab.wire.tf import TensorResponse

__all__ = [
    "CaffeRequest",
    "CaffeResponse",
    "CaffeRequestData",
    "parse_caffe_request",
    "encode_caffe_response",
]

_CAFFE_FLOAT = 1  # the only dtype; recorded as DT_FLOAT in WireTensor


def _blob(dims: list[int], values: np.ndarray) -> bytes:
    shape = len_field(1, [encode_varints(np.asarray(dims, np.int64))]) if dims else []
    parts: list[Buffer] = [*len_field(1, shape)]
    if values.size:
        flat = np.ascontiguousarray(values, dtype="<f4").reshape(-1)
        parts += len_field(2, [le_view(flat, "<f4")])
    return b"".join(parts)


def _float_blob(name: str, x: Any, what: str = "input") -> bytes:
    arr = np.asarray(x)
    # by name: a big-endian '>f4' array is float32 too (_blob writes it little-endian)
    if arr.dtype.name != "float32":
        raise DTypeError(
            f"{what} {name!r}: the Caffe format carries float32 only, got {arr.dtype}; "
            "cast it, e.g. x.astype(np.float32)"
        )
    return _blob(check_shape(name, arr.shape), arr)


class CaffeRequest(Request):
    """A request to a Caffe service (named float32 blobs)."""

    def __init__(self) -> None:
        self._inputs: dict[str, bytes] = {}
        self._fetch: list[str] = []

    def add_feed(self, input_name: str, shape: Any, content: Any = None) -> CaffeRequest:
        """Add a blob: ``add_feed(name, array)`` or ``add_feed(name, shape, flat_content)``."""
        if input_name in self._inputs:
            raise RequestError(f"input {input_name!r} was already added; each input is fed once")
        if content is None:
            self._inputs[input_name] = _float_blob(input_name, shape)
        else:
            dims = check_shape(input_name, shape)
            values = content_array(input_name, content, np.dtype(np.float32))
            check_count(input_name, dims, values.size)
            self._inputs[input_name] = _blob(dims, values)
        return self

    def add_fetch(self, output_name: str) -> CaffeRequest:
        self._fetch.append(output_name)
        return self

    def to_string(self) -> bytes:
        parts: list[Buffer] = []
        for name in self._inputs:  # proto2 repeated fields: all names, then all blobs
            parts += len_field(1, [name.encode("utf-8")])
        for payload in self._inputs.values():
            parts += len_field(2, [payload])
        for name in self._fetch:
            parts += len_field(3, [name.encode("utf-8")])
        return b"".join(parts)

    def parse_response(self, response_data: bytes) -> CaffeResponse:
        return CaffeResponse(response_data)

    @classmethod
    def from_numpy(cls, inputs: Mapping[str, Any], fetch: list[str] | None = None) -> CaffeRequest:
        req = cls()
        for name, x in inputs.items():
            req.add_feed(name, x)
        for name in fetch or []:
            req.add_fetch(name)
        return req


def _decode_blob(data: bytes, start: int, stop: int, label: str) -> WireTensor:
    dims: list[int] | None = None
    chunks: list[bytes] = []
    for f, wt, a, b in iter_fields(data, start, stop):
        if f == 1 and wt == LEN:
            dims = dims or []
            for g, gwt, ga, gb in iter_fields(data, a, b):
                if g == 1 and gwt == LEN:
                    dims += decode_varints(data, ga, gb).view(np.int64).tolist()
                elif g == 1 and gwt == VARINT:
                    dims.append(ga - (1 << 64) if ga >= 1 << 63 else ga)
        elif f == 2 and wt == LEN:
            chunks.append(data[a:b])
        elif f == 2 and wt == I32:  # unpacked floats: legal protobuf
            chunks.append(data[a:b])
    buf = b"".join(chunks)
    if len(buf) % 4:
        raise WireError(f"{label}: data has {len(buf)} bytes, not a multiple of 4")
    return WireTensor(_CAFFE_FLOAT, dims, np.frombuffer(buf, "<f4").astype(np.float32))


def _parse(
    data: bytes, names_field: int, blobs_field: int, what: str, label: str
) -> tuple[dict[str, WireTensor], list[str]]:
    names: list[str] = []
    blobs: list[tuple[int, int]] = []
    fetch: list[str] = []
    try:
        for f, wt, a, b in iter_fields(data, 0, len(data)):
            if wt != LEN:
                continue
            if f == names_field:
                names.append(text(data, a, b, f"{label} name"))
            elif f == blobs_field:
                blobs.append((a, b))
            elif f == 3:
                fetch.append(text(data, a, b, "output_filter"))
        if len(names) != len(blobs):
            raise WireError(f"{len(names)} {label} names but {len(blobs)} blobs")
        tensors = {
            n: _decode_blob(data, a, b, f"{label} {n!r}")
            for n, (a, b) in zip(names, blobs, strict=False)
        }
    except WireError as exc:
        raise WireError(f"body is not a Caffe {what}: {exc}") from None
    return tensors, fetch


class CaffeResponse(TensorResponse):
    """A Caffe PredictResponse: ``resp['prob']`` → float32 array."""

    _pb_message = ("caffe_predict_pb2", "PredictResponse")

    def __init__(self, response_data: bytes | None = None) -> None:
        self._data = bytes(response_data or b"")
        self._tensors, _ = _parse(self._data, 1, 2, "PredictResponse", "output")


@dataclass
class CaffeRequestData:
    """A parsed Caffe PredictRequest."""

    inputs: dict[str, np.ndarray] = field(default_factory=dict)
    output_filter: list[str] = field(default_factory=list)


def parse_caffe_request(data: bytes) -> CaffeRequestData:
    """Parse a Caffe PredictRequest body into float32 arrays (WireError when malformed)."""
    tensors, fetch = _parse(bytes(data), 1, 2, "PredictRequest", "input")
    return CaffeRequestData({k: t.to_numpy(f"input {k!r}") for k, t in tensors.items()}, fetch)


def _float_output(name: str, x: Any) -> np.ndarray:
    """An output as float32, the one dtype of the Caffe format; numbers only."""
    arr = as_array(x)
    if arr.dtype.kind == "O":  # numbers held as objects still pass
        try:
            return arr.astype(np.float32)
        except (TypeError, ValueError):
            pass
    if arr.dtype.kind not in "biuf":
        # text, objects, complex: float32 has no value for them (numpy's own error
        # would name neither the output nor what the format takes)
        raise WireError(
            f"output {name!r}: the Caffe format carries float32 only (numbers, cast to "
            f"float32), got {arr.dtype} ({_first(arr)}); return numbers for it, or serve "
            "the model with a format that carries text (TF, Torch, Blade)"
        )
    return arr.astype(np.float32, copy=False)


def _first(arr: np.ndarray) -> str:
    if not arr.size:
        return "empty"
    return f"first element {arr.reshape(-1)[:1].tolist()[0]!r:.40}"


def encode_caffe_response(outputs: Mapping[str, Any]) -> bytes:
    """Serialize ``{name: array}`` (cast to float32) as a Caffe PredictResponse.

    An output that is no number (text, objects, complex) raises ``WireError`` naming it.
    """
    parts: list[Buffer] = []
    for name in outputs:
        parts += len_field(1, [name.encode("utf-8")])
    for name, x in outputs.items():
        parts += len_field(2, [_float_blob(name, _float_output(name, x), "output")])
    return b"".join(parts)

"""ONNX-format requests and responses (SPEC.md §3, package ``hie.processor``).

``DataProto { repeated TensorProto tensors }`` is both request and response;
each tensor carries its little-endian bytes in ``raw_data``::

    req = OnnxRequest().add_feed("input", x)
    resp = req.parse_response(body)
    resp["output"]            # np.ndarray (resp[0] by position works too)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from easlab.errors import DTypeError, RequestError
from easlab.wire import dtypes as d
from easlab.wire.base import (
    LEN,
    VARINT,
    Buffer,
    InconsistentMessage,
    MessageRequest,
    WireError,
    check_shape,
    decode_varints,
    encode_varints,
    iter_fields,
    le_view,
    len_field,
    pb_text,
    tag,
    text,
    varint,
)
from easlab.wire.tensor import WireTensor, dims_text, negative_dims, shaped
from easlab.wire.tf import TensorResponse

__all__ = ["OnnxRequest", "OnnxResponse", "parse_onnx_request", "encode_onnx_response"]


def _tensor_bytes(name: str, dims: list[int], code: int, raw: Buffer) -> bytes:
    """A TensorProto; proto3 leaves out empty/zero fields, as the official client's does."""
    parts: list[Buffer] = []
    if name:
        parts += len_field(1, [name.encode("utf-8")])
    if dims:
        parts += len_field(2, [encode_varints(np.asarray(dims, np.int64))])
    if code:
        parts += [tag(3, VARINT), varint(code)]
    if (raw.nbytes if isinstance(raw, memoryview) else len(raw)) > 0:
        parts += len_field(5, [raw])
    return b"".join(parts)


def encode_tensor(name: str, x: Any, what: str = "input") -> bytes:
    """One numpy array as a TensorProto (little-endian raw bytes, C order)."""
    arr = np.asarray(x)
    code = d.NUMPY_TO_ONNX.get(arr.dtype.name)
    if code is None:
        raise DTypeError(
            f"{what} {name!r}: the ONNX format cannot carry dtype {arr.dtype}; "
            f"supported: {', '.join(d.NUMPY_TO_ONNX)}"
        )
    dims = check_shape(name, arr.shape)
    le = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).reshape(-1)
    return _tensor_bytes(name, dims, code, le_view(le, le.dtype.str))


class OnnxRequest(MessageRequest):
    """A request to an ONNX service: named tensors with raw little-endian data.

    As in the official client, ``name_index_map`` gives each tensor's position by
    name, and ``request_data`` is the request as a generated ``DataProto`` (see
    ``MessageRequest``).
    """

    _pb_request = ("onnx_predict_pb2", "DataProto")

    def __init__(self) -> None:
        self._tensors: dict[str, bytes] = {}
        self.name_index_map: dict[str, int] = {}

    def _put(self, name: str, payload: bytes) -> int:
        """Add tensor ``name``, or replace it in place; its index."""
        index = self.name_index_map.setdefault(name, len(self._tensors))
        self._tensors[name] = payload
        if self._message is not None:
            tensors = self._message.tensors
            tensor = tensors[index] if index < len(tensors) else tensors.add()
            tensor.Clear()
            tensor.MergeFromString(payload)
        return index

    def add_tensor(self, tensor: Any) -> int:
        """Add a TensorProto (``name``, ``dims``, ``data_type``, ``raw_data``); returns its index.

        A tensor with a name already present replaces it in place, as the official client does.
        """
        name = str(tensor.name)
        raw = bytes(tensor.raw_data)
        dims = check_shape(name, list(tensor.dims))
        code = int(tensor.data_type)
        if code in d.ONNX_TO_NUMPY:
            need = math.prod(dims) * np.dtype(d.ONNX_TO_NUMPY[code]).itemsize
            if need != len(raw):
                raise RequestError(
                    f"input {name!r}: dims {dims} of {d.ONNX_TO_NUMPY[code]} need {need} bytes "
                    f"of raw_data, got {len(raw)}"
                )
        return self._put(name, _tensor_bytes(name, dims, code, raw))

    def add_feed(self, name: str, x: Any) -> OnnxRequest:
        """Add one named input from an array."""
        if name in self._tensors:
            raise RequestError(f"input {name!r} was already added; each input is fed once")
        self._put(name, encode_tensor(name, x))
        return self

    def _encode(self) -> bytes:
        parts: list[Buffer] = []
        for payload in self._tensors.values():
            parts += len_field(1, [payload])
        return b"".join(parts)

    def parse_response(self, response_data: bytes) -> OnnxResponse:
        return OnnxResponse(response_data)

    @classmethod
    def from_numpy(cls, inputs: Mapping[str, Any]) -> OnnxRequest:
        """One call: ``OnnxRequest.from_numpy({'input': x})``."""
        req = cls()
        for name, x in inputs.items():
            req.add_feed(name, x)
        return req

    def __str__(self) -> str:
        """The request in protobuf text format, as ``str()`` of the official ``OnnxRequest``."""
        return pb_text(self.request_data)

    def __repr__(self) -> str:
        return f"OnnxRequest(inputs={list(self._tensors)})"


def _decode_tensor(data: bytes, start: int, stop: int, label: str) -> tuple[str, WireTensor]:
    name = ""
    dims: list[int] = []
    code = 0
    raw = (start, start)
    for f, wt, a, b in iter_fields(data, start, stop):
        if f == 1 and wt == LEN:
            name = text(data, a, b, "tensor name")
        elif f == 2 and wt == LEN:
            dims += decode_varints(data, a, b).view(np.int64).tolist()
        elif f == 2 and wt == VARINT:  # unpacked dims: legal protobuf
            dims.append(a - (1 << 64) if a >= 1 << 63 else a)
        elif f == 3 and wt == VARINT:
            code = a
        elif f == 5 and wt == LEN:
            raw = (a, b)
    label = f"{label} {name!r}" if name else label
    if code not in d.ONNX_TO_NUMPY:
        raise WireError(
            f"{label}: unsupported data_type {code} (expected one of {sorted(d.ONNX_TO_NUMPY)})"
        )
    dtype = np.dtype(d.ONNX_TO_NUMPY[code]).newbyteorder("<")
    size = raw[1] - raw[0]
    if size % dtype.itemsize:
        raise InconsistentMessage(
            f"{label}: raw_data of {size} bytes is not a whole number of {dtype.name}"
        )
    values = np.frombuffer(data, dtype, size // dtype.itemsize, raw[0]).astype(
        dtype.newbyteorder("=")
    )
    if any(x < 0 for x in dims):
        raise InconsistentMessage(negative_dims(label, dims))
    if math.prod(dims) != values.size:
        raise InconsistentMessage(
            f"{label}: dims {dims_text(dims)} need {math.prod(dims)} values, raw_data holds "
            f"{values.size}"
        )
    return name, WireTensor(code, dims, values)


def _decode(data: bytes, what: str) -> dict[str, WireTensor]:
    data = bytes(data)
    out: dict[str, WireTensor] = {}
    try:
        for i, (_f, _wt, a, b) in enumerate(
            x for x in iter_fields(data, 0, len(data)) if x[0] == 1 and x[1] == LEN
        ):
            name, tensor = _decode_tensor(data, a, b, f"tensor {i}")
            if name in out:
                raise InconsistentMessage(f"tensor {name!r} appears twice")
            out[name] = tensor
    except InconsistentMessage as exc:
        raise InconsistentMessage(
            f"ONNX {what} (hie.processor.DataProto) is inconsistent: {exc}"
        ) from None
    except WireError as exc:
        raise WireError(f"body is not an ONNX {what} (hie.processor.DataProto): {exc}") from None
    return out


class OnnxResponse(TensorResponse):
    """An ONNX DataProto response: ``resp['name']`` or ``resp[i]``; official ``get_size/get_name/get_tensor``."""

    _pb_message = ("onnx_predict_pb2", "DataProto")

    def __init__(self, response_data: bytes | None = None) -> None:
        self._data = bytes(response_data or b"")
        self._tensors = _decode(self._data, "response")

    def _key(self, key: Any) -> Any:
        if (
            isinstance(key, (int, np.integer))
            and not isinstance(key, bool)
            and key not in self._tensors
        ):
            names = list(self._tensors)
            if not -len(names) <= key < len(names):
                raise IndexError(
                    f"output index {key} out of range; the response has {len(names)} tensors"
                )
            return names[key]
        return key

    def __getitem__(self, key: Any) -> np.ndarray:
        return super().__getitem__(self._key(key))

    def get_size(self) -> int:
        return len(self._tensors)

    def get_name(self, output_index: int) -> str:
        return str(self._key(output_index))

    def get_tensor(self, output_index: int) -> Any:
        """The tensor as a generated ``TensorProto`` (name, dims, data_type, raw_data)."""
        index = list(self._tensors).index(self._key(output_index))
        return self.response.tensors[index]

    def __repr__(self) -> str:
        return f"OnnxResponse(outputs={list(self._tensors)})"


def parse_onnx_request(data: bytes) -> dict[str, np.ndarray]:
    """Parse a DataProto request body into ``{name: array}`` (WireError when malformed)."""
    tensors = _decode(data, "request")
    try:
        return {k: shaped(t.values, t.shape or [], f"tensor {k!r}") for k, t in tensors.items()}
    except InconsistentMessage as exc:
        raise InconsistentMessage(
            f"ONNX request (hie.processor.DataProto) is inconsistent: {exc}"
        ) from None


def encode_onnx_response(outputs: Mapping[str, Any]) -> bytes:
    """Serialize ``{name: array}`` as a DataProto response."""
    parts: list[Buffer] = []
    for name, x in outputs.items():
        try:
            payload = encode_tensor(name, x, "output")
        except DTypeError as exc:
            raise WireError(str(exc)) from None
        parts += len_field(1, [payload])
    return b"".join(parts)

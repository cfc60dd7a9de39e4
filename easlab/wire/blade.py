"""Blade-format requests and responses (SPEC.md §3, proto2 package ``blade``).

``BladeRequest().add_feed('input_data', 1, [1, 360, 128], BladeRequest.DT_FLOAT, flat)``
as the official client (whose ``BladeRequest()`` without a signature raises),
or ``add_feed('input_data', 1, x)`` with an array. ``BladeTFRequest`` is the
official ``blade_tf_request.TFRequest``: TF-style calls on the Blade wire format.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from easlab.errors import DTypeError, OutputNotFound, RequestError, ShapeError
from easlab.wire import dtypes as d
from easlab.wire.base import (
    LEN,
    UNSET,
    VARINT,
    Buffer,
    InconsistentMessage,
    MessageRequest,
    NeedsFallback,
    WireError,
    check_count,
    check_shape,
    decode_varints,
    encode_varints,
    iter_fields,
    le_view,
    len_field,
    one_of,
    pb_message,
    tag,
    text,
    varint,
)
from easlab.wire.tensor import WireTensor, as_array, content_array, to_output_strings, to_strings
from easlab.wire.tf import TensorResponse

__all__ = [
    "BladeRequest",
    "BladeTFRequest",
    "BladeResponse",
    "BladeRequestData",
    "parse_blade_request",
    "encode_blade_response",
]

_DT_NAMES = {
    d.BLADE_DT_UNKNOWN: "DT_UNKNOWN",
    d.BLADE_DT_FLOAT: "DT_FLOAT",
    d.BLADE_DT_INT32: "DT_INT32",
    d.BLADE_DT_INT64: "DT_INT64",
    d.BLADE_DT_STRING: "DT_STRING",
}


# ---------------------------------------------------------------- encoding


def _blade_values(code: int, values: Any) -> list[Buffer]:
    if code == d.BLADE_DT_STRING:
        parts: list[Buffer] = []
        for s in values:
            parts += [tag(d.BLADE_STRING_VAL, LEN), varint(len(s)), s]
        return parts
    if values.size == 0:
        return []
    if code == d.BLADE_DT_FLOAT:
        flat = np.ascontiguousarray(values, dtype="<f4").reshape(-1)
        return len_field(d.BLADE_FLOAT_VAL, [le_view(flat, "<f4")])
    return len_field(d.BLADE_WIRE[code][1], [encode_varints(values.reshape(-1))])


def _blade_array(name: str, batchsize: int, dims: list[int], code: int, values: Any) -> bytes:
    """An ``Array`` message: both names (the official client sets them equal),
    the proto2 *required* batchsize, the shape (always written), the values."""
    key = name.encode("utf-8")
    shape = len_field(1, [encode_varints(np.asarray(dims, np.int64))]) if dims else []
    parts: list[Buffer] = [
        *len_field(1, [key]),
        *len_field(2, [key]),
        tag(3, VARINT),
        varint(batchsize),
        *len_field(4, shape),
        *_blade_values(code, values),
    ]
    return b"".join(parts)


def _blade_code(name: str, dtype: np.dtype[Any]) -> int:
    if d.is_string_dtype(dtype):
        return d.BLADE_DT_STRING
    code = d.NUMPY_TO_BLADE.get(dtype.name)
    if code is None:
        target = "float32" if dtype.kind in "fc" else "int32 or int64"
        raise DTypeError(
            f"input {name!r}: the Blade format cannot carry dtype {dtype}; it has float32, int32, "
            f"int64 and string. Cast it, e.g. x.astype(np.{target.split()[0]})"
        )
    return code


def _numpy_array(name: str, batchsize: int, x: Any) -> bytes:
    arr = as_array(x)
    code = _blade_code(name, arr.dtype)
    dims = check_shape(name, arr.shape)
    values = to_strings(name, arr.ravel().tolist()) if code == d.BLADE_DT_STRING else arr
    return _blade_array(name, batchsize, dims, code, values)


def _flat_array(name: str, batchsize: int, shape: Any, code: int, content: Any) -> bytes:
    if not isinstance(shape, (list, tuple, np.ndarray)):
        raise ShapeError(
            f"input {name!r}: shape must be a list such as [1, 360, 128], got {shape!r}"
        )
    dims = check_shape(name, shape)
    if code not in d.BLADE_WIRE:
        raise DTypeError(
            f"input {name!r}: Blade dtype must be DT_FLOAT, DT_INT32, DT_INT64 or DT_STRING, got {code!r}"
        )
    values = content_array(name, content, d.numpy_dtype(d.BLADE_WIRE[code][0]))
    check_count(name, dims, len(values))
    return _blade_array(
        name, batchsize, dims, code, list(values) if code == d.BLADE_DT_STRING else values
    )


def _output_info(name: str, code: int) -> bytes:
    """An ``OutputInfo`` message: both names (equal, as the official client sets them), the dtype."""
    key = name.encode("utf-8")
    return b"".join([*len_field(1, [key]), *len_field(2, [key]), tag(3, VARINT), varint(code)])


class BladeRequestError(RequestError, AssertionError):
    """A Blade request cannot be built; an ``AssertionError`` too, which the official
    ``BladeRequest`` and Blade-TF request raise for every invalid argument."""


class BladeShapeError(ShapeError, BladeRequestError):
    """Blade content that does not fit its shape or batch size (also an ``AssertionError``)."""


class BladeDTypeError(DTypeError, BladeRequestError):
    """A dtype a Blade request cannot carry (also an ``AssertionError``)."""


@contextlib.contextmanager
def _official_errors() -> Iterator[None]:
    """Raise a request error as its Blade form, so ``except AssertionError`` catches it."""
    try:
        yield
    except (AssertionError, TypeError):  # content of the wrong kind: a TypeError, as officially
        raise
    except ShapeError as exc:
        raise BladeShapeError(*exc.args) from None
    except DTypeError as exc:
        raise BladeDTypeError(*exc.args) from None
    except RequestError as exc:
        raise BladeRequestError(*exc.args) from None


def _check_name(name: Any, what: str = "input") -> str:
    if not isinstance(name, str) or not name:
        raise RequestError(f"{what} name must be a non-empty string, got {name!r}")
    return name


class _BladeBase(MessageRequest):
    """What ``BladeRequest`` and ``BladeTFRequest`` share.

    ``request_data`` is the request as a generated ``blade.Request``, as in the
    official client (see ``MessageRequest``).
    """

    _pb_request = ("blade_pb2", "Request")

    DT_UNKNOWN = d.BLADE_DT_UNKNOWN
    DT_FLOAT = d.BLADE_DT_FLOAT
    DT_INT32 = d.BLADE_DT_INT32
    DT_INT64 = d.BLADE_DT_INT64
    DT_STRING = d.BLADE_DT_STRING

    def __init__(self, signature_name: str | None = None) -> None:
        self.signature_name = signature_name
        self._inputs: dict[str, bytes] = {}
        self._outputs: list[tuple[str, int]] = []

    def set_signature_name(self, signature_name: str | None) -> None:
        self.signature_name = signature_name
        if self._message is not None:
            if signature_name is None:
                self._message.ClearField("tf_signature_name")
            else:
                self._message.tf_signature_name = signature_name

    @property
    def tf_signature_name(self) -> str | None:
        """The signature (the official client's name for ``signature_name``)."""
        return self.signature_name

    @tf_signature_name.setter
    def tf_signature_name(self, signature_name: str | None) -> None:
        self.signature_name = signature_name

    def _add(self, name: str, payload: bytes) -> None:
        self._inputs[name] = payload
        if self._message is not None:
            self._message.inputs.add().MergeFromString(payload)

    def _claim(self, name: Any) -> str:
        name = _check_name(name)
        if name in self._inputs:
            raise RequestError(f"input {name!r} was already added; each input is fed once")
        return name

    def _fetch(self, name: str, code: int) -> None:
        with _official_errors():
            _check_name(name, "output")
            if code not in _DT_NAMES:
                raise DTypeError(
                    f"output {name!r}: unknown Blade dtype {code!r}; use one of {list(_DT_NAMES.values())}"
                )
        self._outputs.append((name, code))
        if self._message is not None:
            self._message.output_info.add().MergeFromString(_output_info(name, code))

    def _encode(self) -> bytes:
        """The serialized ``blade.Request``, byte-identical to the official client's."""
        parts: list[Buffer] = []
        # proto2 optional: written whenever set, even to "" (the official client
        # always sets it); easlab leaves it out when no signature was given.
        if self.signature_name is not None:
            parts += len_field(1, [self.signature_name.encode("utf-8")])
        for payload in self._inputs.values():
            parts += len_field(2, [payload])
        for name, code in self._outputs:
            parts += len_field(3, [_output_info(name, code)])
        return b"".join(parts)

    def parse_response(self, response_data: bytes) -> BladeResponse:
        return BladeResponse(response_data)

    def volume(self, shape: Any) -> int:
        """The number of values a tensor of ``shape`` holds (the official helper)."""
        return math.prod(shape)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(signature_name={self.signature_name!r}, inputs={list(self._inputs)}, fetch={[n for n, _ in self._outputs]})"


class BladeRequest(_BladeBase):
    """A request to a Blade service; ``BladeRequest()`` needs no signature."""

    def add_feed(
        self,
        input_name: str,
        batch_size: int = UNSET,
        shape: Any = UNSET,
        content_type: int | None = None,
        content: Any = None,
        *,
        batchsize: int = UNSET,
    ) -> BladeRequest:
        """Add one input: ``(name, batch_size, shape, dtype, flat)`` or ``(name, batch_size, array)``.

        ``batchsize=`` is the official client's name for ``batch_size``.
        """
        batch_size = one_of("batch_size", batch_size, "batchsize", batchsize)
        if shape is UNSET:
            raise TypeError("add_feed() needs the shape (or the array) after the batch size")
        with _official_errors():
            return self._add_feed(input_name, batch_size, shape, content_type, content)

    def _add_feed(
        self, input_name: str, batch_size: Any, shape: Any, content_type: int | None, content: Any
    ) -> BladeRequest:
        name = self._claim(input_name)
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, (int, np.integer))
            or batch_size <= 0
        ):
            raise ShapeError(
                f"input {name!r}: batch_size must be a positive int, got {batch_size!r}"
            )
        if content is None and content_type is None:
            self._add(name, _numpy_array(name, int(batch_size), shape))
        elif content is None:
            raise RequestError(
                f"input {name!r}: pass (shape, dtype, flat_content) or just the array"
            )
        else:
            self._add(name, _flat_array(name, int(batch_size), shape, content_type, content))  # type: ignore[arg-type]
        return self

    def add_fetch(self, output_name: str, output_type: int = d.BLADE_DT_UNKNOWN) -> BladeRequest:
        """Ask for one output and say its dtype (``BladeRequest.DT_FLOAT`` ...)."""
        self._fetch(output_name, output_type)
        return self

    @classmethod
    def from_numpy(
        cls,
        inputs: Mapping[str, Any],
        fetch: list[str] | Mapping[str, int] | None = None,
        signature_name: str | None = None,
        batch_size: int | None = None,
    ) -> BladeRequest:
        """One call: ``BladeRequest.from_numpy({'input_data': x}, fetch=['out'])``.

        ``batch_size`` defaults to each array's first dimension (1 for a scalar).
        ``fetch`` may map output names to Blade dtype codes.
        """
        req = cls(signature_name)
        for name, x in inputs.items():
            arr = as_array(x)
            bs = (
                batch_size
                if batch_size is not None
                else (arr.shape[0] if arr.ndim and arr.shape[0] else 1)
            )
            req.add_feed(name, bs, arr)
        items = (
            fetch.items()
            if isinstance(fetch, Mapping)
            else [(n, d.BLADE_DT_UNKNOWN) for n in fetch or []]
        )
        for name, code in items:
            req.add_fetch(name, code)
        return req


class BladeTFRequest(_BladeBase):
    """The official ``blade_tf_request.TFRequest``: TF-style calls, Blade wire format.

    ``batchsize`` is the first dimension of each shape; fetches carry DT_UNKNOWN.
    """

    def add_feed(
        self, input_name: str, shape: Any, content_type: int | None = None, content: Any = None
    ) -> BladeTFRequest:
        """Add one input: ``(name, shape, dtype, flat)`` or ``(name, array)``."""
        with _official_errors():
            return self._add_feed(input_name, shape, content_type, content)

    def _add_feed(
        self, input_name: str, shape: Any, content_type: int | None, content: Any
    ) -> BladeTFRequest:
        name = self._claim(input_name)
        if content is None and content_type is None:
            arr = as_array(shape)
            self._add(name, _numpy_array(name, int(arr.shape[0]) if arr.ndim else 1, arr))
        elif content is None:
            raise RequestError(
                f"input {name!r}: pass (shape, dtype, flat_content) or just the array"
            )
        else:
            dims = check_shape(name, shape if isinstance(shape, (list, tuple)) else [shape])
            self._add(name, _flat_array(name, dims[0] if dims else 1, shape, content_type, content))  # type: ignore[arg-type]
        return self

    def add_fetch(self, output_name: str) -> BladeTFRequest:
        self._fetch(output_name, d.BLADE_DT_UNKNOWN)
        return self

    @classmethod
    def from_numpy(
        cls, signature_name: str | None, inputs: Mapping[str, Any], fetch: list[str] | None = None
    ) -> BladeTFRequest:
        req = cls(signature_name)
        for name, x in inputs.items():
            req.add_feed(name, x)
        for name in fetch or []:
            req.add_fetch(name)
        return req


# ---------------------------------------------------------------- decoding


@dataclass
class _BladeArray:
    name: str
    batchsize: int | None
    shape: list[int] | None
    fields: dict[int, np.ndarray]  # Blade dtype code -> flat values

    def tensor(self, label: str) -> WireTensor:
        filled = [c for c, v in self.fields.items() if len(v)]
        if len(filled) > 1:  # a Blade message all the same, one that contradicts itself
            raise InconsistentMessage(
                f"{label} fills several value fields ({[_DT_NAMES[c] for c in filled]}); "
                "send its values in the one field of their dtype"
            )
        code = filled[0] if filled else next(iter(self.fields), d.BLADE_DT_FLOAT)
        values = self.fields.get(code, np.zeros(0, np.float32))
        return WireTensor(code, self.shape, values)


def _decode_array(data: bytes, start: int, stop: int, label: str) -> _BladeArray:
    blob = model = ""
    batch: int | None = None
    shape: list[int] | None = None
    spans: dict[int, list[tuple[int, int]]] = {}
    strings: list[bytes] = []
    for f, wt, a, b in iter_fields(data, start, stop):
        if f == 1 and wt == LEN:
            blob = text(data, a, b, "blade_blob_name")
        elif f == 2 and wt == LEN:
            model = text(data, a, b, "name_in_dl_model")
        elif f == 3 and wt == VARINT:
            batch = a - (1 << 64) if a >= 1 << 63 else a
        elif f == 4 and wt == LEN:
            shape = shape or []
            for g, gwt, ga, gb in iter_fields(data, a, b):
                if g == 1 and gwt == LEN:
                    shape += decode_varints(data, ga, gb).view(np.int64).tolist()
                elif g == 1:
                    raise NeedsFallback(label)
        elif f == d.BLADE_STRING_VAL and wt == LEN:
            strings.append(bytes(data[a:b]))
        elif f in (5, 6, 7):
            if wt != LEN:
                raise NeedsFallback(label)
            spans.setdefault(f, []).append((a, b))
    fields: dict[int, np.ndarray] = {}
    for f, parts in spans.items():
        buf = (
            b"".join(data[a:b] for a, b in parts)
            if len(parts) > 1
            else data[parts[0][0] : parts[0][1]]
        )
        if f == d.BLADE_FLOAT_VAL:
            if len(buf) % 4:
                raise WireError(f"{label}: float_val has {len(buf)} bytes, not a multiple of 4")
            fields[d.BLADE_DT_FLOAT] = np.frombuffer(buf, "<f4").astype(np.float32)
        else:
            raw = decode_varints(buf, 0, len(buf)).view(np.int64)
            code = d.BLADE_DT_INT32 if f == d.BLADE_INT_VAL else d.BLADE_DT_INT64
            fields[code] = raw.astype(np.int32) if code == d.BLADE_DT_INT32 else raw.copy()
    if strings:
        arr = np.empty(len(strings), dtype=object)
        arr[:] = strings
        fields[d.BLADE_DT_STRING] = arr
    return _BladeArray(model or blob, batch, shape, fields)


def _from_pb(pb: Any) -> _BladeArray:
    fields: dict[int, np.ndarray] = {}
    if len(pb.float_val):
        fields[d.BLADE_DT_FLOAT] = np.asarray(list(pb.float_val), np.float32)
    if len(pb.int_val):
        fields[d.BLADE_DT_INT32] = np.asarray(list(pb.int_val), np.int32)
    if len(pb.int64_val):
        fields[d.BLADE_DT_INT64] = np.asarray(list(pb.int64_val), np.int64)
    if len(pb.string_val):
        arr = np.empty(len(pb.string_val), dtype=object)
        arr[:] = list(pb.string_val)
        fields[d.BLADE_DT_STRING] = arr
    return _BladeArray(
        pb.name_in_dl_model or pb.blade_blob_name,
        pb.batchsize if pb.HasField("batchsize") else None,
        list(pb.shape.dim) if pb.HasField("shape") else None,
        fields,
    )


def _parse_arrays(
    data: bytes, field_no: int, label: str, pb_type: str
) -> tuple[Any, list[_BladeArray]]:
    """Fast parse with the pb2 fallback; returns (fast-path fields or pb message, arrays)."""
    try:
        arrays = [
            _decode_array(data, a, b, f"{label} {i}")
            for i, (f, wt, a, b) in enumerate(
                x for x in iter_fields(data, 0, len(data)) if x[0] == field_no and x[1] == LEN
            )
        ]
        return None, arrays
    except NeedsFallback:
        # proto2 required fields: parse partially, the batchsize check below says what is missing
        msg = pb_message("blade_pb2", pb_type)
        try:
            msg.MergeFromString(data)
        except Exception as exc:
            raise WireError(str(exc)) from None
        repeated = msg.inputs if pb_type == "Request" else msg.outputs
        return msg, [_from_pb(a) for a in repeated]


class BladeOutputNotFound(OutputNotFound, AssertionError):
    """No such Blade output: an ``AssertionError`` too, as the official ``BladeResponse`` raises."""


class BladeResponse(TensorResponse):
    """A ``blade.Response``: outputs keyed by ``name_in_dl_model``."""

    _pb_message = ("blade_pb2", "Response")
    _missing = BladeOutputNotFound

    def __init__(self, response_data: bytes | None = None) -> None:
        self._data = bytes(response_data or b"")
        try:
            _, arrays = _parse_arrays(self._data, 1, "output", "Response")
            self._arrays = {a.name.strip(): a for a in arrays}
            self._tensors = {k: a.tensor(f"output {k!r}") for k, a in self._arrays.items()}
        except WireError as exc:
            raise WireError(f"body is not a Blade Response: {exc}") from None

    def get_values(self, output_name: str, output_type: int | None = None) -> list[Any]:  # type: ignore[override]
        """The output's flat values; with ``output_type`` from that dtype's field (as the official client)."""
        if output_type is None:
            return super().get_values(str(output_name).strip())
        if output_type not in _DT_NAMES:
            raise DTypeError(
                f"unknown Blade dtype {output_type!r}; use one of {list(_DT_NAMES.values())}"
            )
        self._tensor(str(output_name).strip())
        values = self._arrays[str(output_name).strip()].fields.get(output_type)
        return [] if values is None else values.tolist()

    def get_tensor_shape(self, output_name: Any) -> list[int]:
        return super().get_tensor_shape(str(output_name).strip())

    def get_batch_size(self, output_name: str) -> int | None:
        self._tensor(str(output_name).strip())
        return self._arrays[str(output_name).strip()].batchsize


# ---------------------------------------------------------------- server-side codec


@dataclass
class BladeRequestData:
    """A parsed ``blade.Request``."""

    signature_name: str | None
    inputs: dict[str, np.ndarray] = field(default_factory=dict)
    batch_sizes: dict[str, int] = field(default_factory=dict)
    output_info: list[tuple[str, int]] = field(default_factory=list)


def parse_blade_request(data: bytes) -> BladeRequestData:
    """Parse a ``blade.Request`` body into arrays (WireError when malformed)."""
    data = bytes(data)
    try:
        signature: str | None = None
        outputs: list[tuple[str, int]] = []
        msg, arrays = _parse_arrays(data, 2, "input", "Request")
        if msg is not None:
            signature = msg.tf_signature_name if msg.HasField("tf_signature_name") else None
            outputs = [
                (o.name_in_dl_model or o.blade_blob_name, int(o.data_type)) for o in msg.output_info
            ]
        else:
            for f, wt, a, b in iter_fields(data, 0, len(data)):
                if f == 1 and wt == LEN:
                    signature = text(data, a, b, "tf_signature_name")
                elif f == 3 and wt == LEN:
                    blob = model = ""
                    code = 0
                    for g, gwt, ga, gb in iter_fields(data, a, b):
                        if g == 1 and gwt == LEN:
                            blob = text(data, ga, gb, "output blade_blob_name")
                        elif g == 2 and gwt == LEN:
                            model = text(data, ga, gb, "output name_in_dl_model")
                        elif g == 3 and gwt == VARINT:
                            code = ga
                    outputs.append((model or blob, code))  # as inputs and the fallback
        inputs: dict[str, np.ndarray] = {}
        batch: dict[str, int] = {}
        for i, arr in enumerate(arrays):
            label = f"input {arr.name!r}" if arr.name else f"input {i}"
            if not arr.name:
                raise WireError(f"{label} has neither blade_blob_name nor name_in_dl_model")
            if arr.batchsize is None:
                raise WireError(f"{label} lacks the required batchsize")
            if arr.name in inputs:
                raise WireError(f"{label} appears twice")
            inputs[arr.name] = arr.tensor(label).to_numpy(label)
            batch[arr.name] = arr.batchsize
    except InconsistentMessage as exc:  # a Blade Request all the same: say what is wrong
        raise InconsistentMessage(f"Blade Request is inconsistent: {exc}") from None
    except WireError as exc:
        raise WireError(f"body is not a Blade Request: {exc}") from None
    return BladeRequestData(signature, inputs, batch, outputs)


def _blade_output(name: str, x: Any) -> tuple[int, Any]:
    """An output in a dtype Blade carries: float32, int32, int64 or string.

    Narrower ints and bool widen to int32, float16/float64 become float32,
    uint32/uint64 become int64 (Blade has nothing closer).
    """
    arr = as_array(x)
    kind, size = arr.dtype.kind, arr.dtype.itemsize
    if kind in "OSU":
        return d.BLADE_DT_STRING, to_output_strings(name, arr, "Blade")
    if kind == "b" or (kind in "iu" and size < 4) or (kind == "i" and size == 4):
        return d.BLADE_DT_INT32, arr.astype(np.int32)
    if kind in "iu":
        if kind == "u" and size == 8 and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
            raise WireError(f"output {name!r}: uint64 values above int64 range cannot be sent")
        return d.BLADE_DT_INT64, arr.astype(np.int64)
    if kind == "f":
        return d.BLADE_DT_FLOAT, arr.astype(np.float32)
    raise WireError(f"output {name!r}: Blade cannot carry dtype {arr.dtype}")


def encode_blade_response(outputs: Mapping[str, Any]) -> bytes:
    """Serialize ``{name: array}`` as a ``blade.Response`` (batchsize = first dimension)."""
    parts: list[Buffer] = []
    for name, x in outputs.items():
        code, values = _blade_output(name, x)
        shape = list(np.shape(x))
        batch = shape[0] if shape else 1
        parts += len_field(1, [_blade_array(name, batch, shape, code, values)])
    return b"".join(parts)

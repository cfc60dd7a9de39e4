"""TensorFlow-format requests and responses (SPEC.md §3), client and server side.

Client side, ``TFRequest``/``TFResponse`` keep the official ``eas_prediction``
calls and add numpy forms::

    req = TFRequest("predict_images")
    req.add_feed("images", [1, 784], TFRequest.DT_FLOAT, [1.0] * 784)   # official
    req.add_feed("images", x)                                           # numpy
    resp = req.parse_response(body)
    resp["scores"]                                                      # np.ndarray

Server side, ``parse_tf_request`` and ``encode_tf_response`` are the codec the
kernel's TensorFlow processor uses.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from easlab.errors import ContentTypeError, OutputNotFound, RequestError
from easlab.wire import dtypes as d
from easlab.wire.base import (
    LEN,
    UNSET,
    Buffer,
    InconsistentMessage,
    MessageRequest,
    NeedsFallback,
    Response,
    WireError,
    iter_fields,
    len_field,
    one_of,
    pb_message,
    pb_text,
    text,
    text_arg,
)
from easlab.wire.layout import RequestLayout
from easlab.wire.tensor import (
    ArrayLayout,
    WireTensor,
    as_array,
    decode_array_proto,
    encode_flat,
    encode_numpy,
    from_pb,
    numeric_only,
    output_strings_error,
    scan_array_proto,
)

__all__ = [
    "TFRequest",
    "TFResponse",
    "TFRequestData",
    "parse_tf_request",
    "parse_tf_request_layout",
    "encode_tf_response",
    "tf_response_parts",
    "parse_tf_response",
]

_FMT = "TensorFlow"


def _encode_tf_array(name: str, x: Any) -> list[Buffer]:
    return encode_numpy(name, x, wire=d.TF_WIRE, numpy_to_code=d.NUMPY_TO_TF, fmt=_FMT)


def _map_entry(field_no: int, key: str, payload: list[Buffer]) -> list[Buffer]:
    return len_field(field_no, [*len_field(1, [key.encode("utf-8")]), *len_field(2, payload)])


def _signature(name: Any) -> str | None:
    return None if name is None else text_arg("signature name", name)


class TFRequest(MessageRequest):
    """A request to a TensorFlow service (PredictRequest protobuf).

    ``request_data`` is the request as a generated ``PredictRequest``, as in the
    official client (see ``MessageRequest``).
    """

    _pb_request = ("tf_predict_pb2", "PredictRequest")

    DT_INVALID = d.DT_INVALID
    DT_FLOAT = d.DT_FLOAT
    DT_DOUBLE = d.DT_DOUBLE
    DT_INT32 = d.DT_INT32
    DT_UINT8 = d.DT_UINT8
    DT_INT16 = d.DT_INT16
    DT_INT8 = d.DT_INT8
    DT_STRING = d.DT_STRING
    DT_COMPLEX64 = d.DT_COMPLEX64
    DT_INT64 = d.DT_INT64
    DT_BOOL = d.DT_BOOL
    DT_QINT8 = d.DT_QINT8
    DT_QUINT8 = d.DT_QUINT8
    DT_QINT32 = d.DT_QINT32
    DT_BFLOAT16 = d.DT_BFLOAT16
    DT_QINT16 = d.DT_QINT16
    DT_QUINT16 = d.DT_QUINT16
    DT_UINT16 = d.DT_UINT16
    DT_COMPLEX128 = d.DT_COMPLEX128
    DT_HALF = d.DT_HALF
    TF_BOOL = d.DT_BOOL  # the manuals write TFRequest.TF_BOOL

    def __init__(self, signature_name: str | None = None) -> None:
        self.signature_name = _signature(signature_name)
        # name -> encoded ArrayProto parts; a float array's part is a view of its
        # memory, read once at to_string() (one copy for the whole body)
        self._inputs: dict[str, list[Buffer]] = {}
        self._fetch: list[str] = []

    def set_signature_name(
        self, signature_name: str | None = UNSET, *, singature_name: str | None = UNSET
    ) -> None:
        """Set the model signature to call (``singature_name=``: the official client's spelling)."""
        name = _signature(
            one_of("signature_name", signature_name, "singature_name", singature_name)
        )
        self.signature_name = name
        if self._message is not None and self._inputs:
            self._message.signature_name = name or ""

    def add_feed(
        self,
        input_name: str,
        shape: Any,
        content_type: int | None = None,
        content: Any = None,
    ) -> TFRequest:
        """Add one input: ``add_feed(name, shape, dtype, flat_content)`` or ``add_feed(name, array)``.

        The numpy form takes shape and dtype from the array (any memory order;
        str/bytes/object arrays travel as DT_STRING, bool as DT_BOOL). With
        ``add_feed(name, array, dtype)`` the array is sent as that dtype.
        A float array already in wire layout is not copied here: its memory is
        read once by ``to_string()``, so do not change it in between.
        """
        input_name = text_arg("input name", input_name)
        if input_name in self._inputs:
            raise RequestError(
                f"input {input_name!r} was already added; each input is fed once "
                "(the official client would silently concatenate both feeds)"
            )
        if content is None:
            x = shape if content_type is None else _as_code(input_name, shape, content_type)
            payload = _encode_tf_array(input_name, x)
        else:
            if content_type is None:
                raise RequestError(f"input {input_name!r}: give the dtype, e.g. TFRequest.DT_FLOAT")
            payload = encode_flat(
                input_name, shape, content_type, content, wire=d.TF_WIRE, fmt=_FMT
            )
        self._inputs[input_name] = payload
        if self._message is not None:
            self._message.signature_name = self.signature_name or ""
            self._message.inputs[input_name].MergeFromString(b"".join(payload))
        return self

    def add_fetch(self, output_name: str) -> TFRequest:
        """Ask for one output (with none, a SavedModel service returns all outputs)."""
        output_name = text_arg("output name", output_name)
        self._fetch.append(output_name)
        if self._message is not None:
            self._message.output_filter.append(output_name)
        return self

    @property
    def input_names(self) -> list[str]:
        return list(self._inputs)

    def _encode(self) -> bytes:
        """The serialized PredictRequest, byte-identical to the official client's.

        The signature name goes in with the inputs only: the official client writes
        it into the message at ``add_feed``, so a request without feeds (fetches
        only, or nothing) carries no signature name. Unlike there, a
        ``set_signature_name`` after the feeds is sent (the official client keeps
        sending the name the last feed saw).
        """
        parts: list[Buffer] = []
        if self.signature_name and self._inputs:
            parts += len_field(1, [self.signature_name.encode("utf-8")])
        for name, payload in self._inputs.items():
            parts += _map_entry(2, name, payload)
        for name in self._fetch:
            parts += len_field(3, [name.encode("utf-8")])
        return b"".join(parts)

    def parse_response(self, response_data: bytes) -> TFResponse:
        return TFResponse(response_data)

    @classmethod
    def from_numpy(
        cls,
        signature_name: str | None,
        inputs: Mapping[str, Any],
        fetch: list[str] | None = None,
    ) -> TFRequest:
        """One call: ``TFRequest.from_numpy("sig", {"images": x}, fetch=["scores"])``."""
        req = cls(signature_name)
        for name, x in inputs.items():
            req.add_feed(name, x)
        for name in fetch or []:
            req.add_fetch(name)
        return req

    def __repr__(self) -> str:
        return f"TFRequest(signature_name={self.signature_name!r}, inputs={list(self._inputs)}, fetch={self._fetch})"


def _as_code(name: str, x: Any, code: int) -> np.ndarray:
    """``x`` cast to the numpy type of a TF dtype code (numpy form with explicit dtype)."""
    if code not in d.TF_WIRE:
        raise RequestError(f"input {name!r}: unknown or unsupported TF dtype code {code}")
    arr = as_array(x)
    if code == d.DT_STRING:
        return arr.astype(object)
    return arr.astype(d.numpy_dtype(d.TF_WIRE[code][0]))


# ---------------------------------------------------------------- responses


class TensorResponse(Response):
    """Shared numpy surface of the tensor responses: ``resp[key]``, ``to_numpy()``, ``to_dataframe()``."""

    _tensors: dict[Any, WireTensor]
    _data: bytes
    _label: str = "output"
    #: the generated module and message that ``to_string`` renders as protobuf text
    _pb_message: tuple[str, str]

    @functools.cached_property
    def response(self) -> Any:
        """The answer as its generated protobuf message (the official client's attribute),
        parsed on first use: ``resp.response.outputs['scores'].float_val``."""
        msg = pb_message(*self._pb_message)
        # Partial: a proto2 message (Blade) may lack a required field and still render.
        msg.MergeFromString(self._data)
        return msg

    def to_string(self) -> str:
        """The message in protobuf text format, the official client's ``to_string`` text."""
        return pb_text(self.response)

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(outputs={list(self._tensors)})"

    def keys(self) -> list[Any]:
        return list(self._tensors)

    def __contains__(self, key: object) -> bool:
        return key in self._tensors

    def __iter__(self) -> Iterator[Any]:
        return iter(self._tensors)

    def __len__(self) -> int:
        return len(self._tensors)

    #: what a missing output raises (a KeyError; Torch and Blade add the official type)
    _missing: type[OutputNotFound] = OutputNotFound

    def _tensor(self, key: Any) -> WireTensor:
        try:
            return self._tensors[key]
        except KeyError:
            raise self._missing(
                f"no {self._label} {key!r} in the response; it has {list(self._tensors)}"
            ) from None

    def __getitem__(self, key: Any) -> np.ndarray:
        """The output as an array of its shape and dtype (decoded once; it owns its memory)."""
        return self._tensor(key).to_numpy(f"{self._label} {key!r}")

    def to_numpy(self) -> dict[Any, np.ndarray]:
        """Every output as ``{key: array}``."""
        return {k: self[k] for k in self._tensors}

    def to_dataframe(self) -> Any:
        """Outputs with one row per batch item as a pandas DataFrame.

        A 1-D output is one column; a 2-D output of width k is k columns
        ``name_0 .. name_{k-1}``. All outputs must share their first dimension.
        """
        import pandas as pd

        columns: dict[str, np.ndarray] = {}
        owners: dict[str, Any] = {}  # column -> the output it came from
        rows: int | None = None
        for key, arr in self.to_numpy().items():
            if arr.ndim not in (1, 2):
                raise ValueError(
                    f"{self._label} {key!r} has shape {arr.shape}; to_dataframe() takes 1-D "
                    "and 2-D outputs only (use resp[key] for the array)"
                )
            if rows is not None and arr.shape[0] != rows:
                raise ValueError(
                    f"{self._label} {key!r} has {arr.shape[0]} rows, others have {rows}; "
                    "build the frame from resp[key] yourself"
                )
            rows = arr.shape[0]
            named = (
                [(str(key), arr)]
                if arr.ndim == 1
                else [(f"{key}_{j}", arr[:, j]) for j in range(arr.shape[1])]
            )
            for column, values in named:
                if column in owners:
                    # output 'p' of width 2 gives p_0 and p_1: an output 'p_0' would
                    # replace one of them without a word
                    raise ValueError(
                        f"column {column!r} comes from both {self._label} "
                        f"{owners[column]!r} and {key!r}; build the frame from resp[key] "
                        "yourself"
                    )
                owners[column] = key
                columns[column] = values
        return pd.DataFrame(columns)

    def get_tensor_shape(self, key: Any) -> list[int]:
        """The output's shape as the message states it."""
        return list(self._tensor(key).shape or [])

    def get_values(self, key: Any) -> list[Any]:
        """The output's values as a flat list (every dtype decoded, unlike the official client)."""
        return self._tensor(key).values.tolist()


class TFResponse(TensorResponse):
    """A TensorFlow PredictResponse, decoded straight to numpy."""

    _pb_message = ("tf_predict_pb2", "PredictResponse")

    def __init__(self, response_data: bytes | None = None) -> None:
        self._data = bytes(response_data or b"")
        self._tensors = parse_tf_response(self._data)

    def get_tensor_shape(self, output_name: str) -> list[int]:
        """The output's shape as the message states it."""
        return super().get_tensor_shape(output_name)

    def get_values(self, output_name: str) -> list[Any]:
        """The output's values as a flat list (every dtype decoded, unlike the official client)."""
        return super().get_values(output_name)


# ---------------------------------------------------------------- server-side codec


@dataclass
class TFRequestData:
    """A parsed TensorFlow PredictRequest."""

    signature_name: str
    inputs: dict[str, np.ndarray] = field(default_factory=dict)
    output_filter: list[str] = field(default_factory=list)


def _parse_map(data: bytes, start: int, stop: int, what: str) -> tuple[str, tuple[int, int]]:
    """One ``map<string, ArrayProto>`` entry: key and the span of its value."""
    key = ""
    value = (stop, stop)  # a missing value is an empty ArrayProto
    for f, wt, a, b in iter_fields(data, start, stop):
        if f == 1 and wt == LEN:
            key = text(data, a, b, f"{what} name")
        elif f == 2 and wt == LEN:
            value = (a, b)
    return key, value


def _decode_tensors(
    data: bytes, spans: list[tuple[str, tuple[int, int]]], label: str
) -> dict[str, WireTensor]:
    return {
        key: decode_array_proto(data, a, b, d.TF_WIRE, f"{label} {key!r}") for key, (a, b) in spans
    }


def _pb_tensors(pb_map: Any, label: str, request: bool = False) -> dict[str, WireTensor]:
    return {key: from_pb(pb_map[key], d.TF_WIRE, f"{label} {key!r}", request) for key in pb_map}


_INCONSISTENT = "TensorFlow PredictRequest is inconsistent: "


def _twice(what: str, key: str) -> str:
    """A map key given twice in a request: protobuf keeps the last entry, so the model
    would run on one of the two tensors the client sent, silently (as ONNX and Blade
    requests, whose inputs are a list, refuse it)."""
    return f"{what} {key!r} appears twice; send each input once"


def _pb_parse(message: Any, data: bytes, what: str) -> Any:
    from google.protobuf.message import DecodeError

    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise WireError(f"body is not a {what}: {exc}") from None
    return message


def parse_tf_request(data: bytes) -> TFRequestData:
    """Parse a TensorFlow PredictRequest body into arrays (WireError when malformed)."""
    return parse_tf_request_layout(data)[0]


def parse_tf_request_layout(data: bytes) -> tuple[TFRequestData, RequestLayout | None]:
    """``parse_tf_request`` and the body's layout (``wire/layout.py``), whose ``read``
    gives the inputs of a body shaped the same, in ``inputs`` order.

    The layout is None where no cache applies: string inputs, an input named
    twice, or a body only the generated module reads.
    """
    data = bytes(data)
    layouts: list[ArrayLayout] | None = []
    try:
        signature = ""
        spans: list[tuple[str, tuple[int, int]]] = []
        fetch: list[str] = []
        for f, wt, a, b in iter_fields(data, 0, len(data)):
            if wt != LEN:
                if f in (1, 2, 3):
                    raise WireError(f"field {f} has wire type {wt}, expected length-delimited")
                continue
            if f == 1:
                signature = text(data, a, b, "signature_name")
            elif f == 2:
                spans.append(_parse_map(data, a, b, "input"))
            elif f == 3:
                fetch.append(text(data, a, b, "output_filter"))
        tensors: dict[str, WireTensor] = {}
        for key, (a, b) in spans:
            if key in tensors:  # a map's last entry would win: the client sent two values
                raise InconsistentMessage(_twice("input", key))
            layout = scan_array_proto(data, a, b, f"input {key!r}")
            layout.check_fields(d.TF_WIRE)
            tensors[key] = layout.decode(data, d.TF_WIRE)
            layouts.append(layout)  # type: ignore[union-attr]
    except NeedsFallback:
        msg = _pb_parse(
            pb_message("tf_predict_pb2", "PredictRequest"), data, "TensorFlow PredictRequest"
        )
        signature, fetch = msg.signature_name, list(msg.output_filter)
        try:
            tensors = _pb_tensors(msg.inputs, "input", request=True)
        except InconsistentMessage as exc:
            raise InconsistentMessage(_INCONSISTENT + str(exc)) from None
        layouts = None
    except InconsistentMessage as exc:
        raise InconsistentMessage(_INCONSISTENT + str(exc)) from None
    except WireError as exc:
        raise WireError(f"body is not a TensorFlow PredictRequest: {exc}") from None
    try:
        inputs = {k: t.to_numpy(f"input {k!r}") for k, t in tensors.items()}
    except WireError as exc:
        raise InconsistentMessage(_INCONSISTENT + str(exc)) from None
    cacheable = layouts is not None and len(layouts) == len(inputs) and numeric_only(layouts)
    request_layout = RequestLayout(data, layouts, d.TF_WIRE) if cacheable else None  # type: ignore[arg-type]
    return TFRequestData(signature, inputs, fetch), request_layout


def parse_tf_response(data: bytes) -> dict[str, WireTensor]:
    """Parse a TensorFlow PredictResponse into ``{name: WireTensor}`` (WireError when malformed)."""
    data = bytes(data)
    try:
        spans = [
            _parse_map(data, a, b, "output")
            for f, wt, a, b in iter_fields(data, 0, len(data))
            if f == 1 and wt == LEN
        ]
        return _decode_tensors(data, spans, "output")
    except NeedsFallback:
        msg = _pb_parse(
            pb_message("tf_predict_pb2", "PredictResponse"), data, "TensorFlow PredictResponse"
        )
        return _pb_tensors(msg.outputs, "output")
    except WireError as exc:
        raise WireError(f"body is not a TensorFlow PredictResponse: {exc}") from None


def server_array(name: str, x: Any) -> np.ndarray:
    """An output array in a dtype every tensor format can carry losslessly.

    uint32 (and uint64 within range) become int64, which TF and Torch have.
    """
    arr = as_array(x)
    if arr.dtype.kind == "u" and arr.dtype.itemsize >= 4:
        if arr.dtype.itemsize == 8 and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
            raise WireError(f"output {name!r}: uint64 values above int64 range cannot be sent")
        return arr.astype(np.int64)
    return arr


def tf_response_parts(outputs: Mapping[str, Any]) -> list[Buffer]:
    """The parts of a TensorFlow PredictResponse for ``{name: array}`` (joined once)."""
    parts: list[Buffer] = []
    for name, x in outputs.items():
        arr = server_array(name, x)
        try:
            payload = _encode_tf_array(name, arr)
        except ContentTypeError:  # an element no string_val holds: named as an output
            output_strings_error(name, arr, _FMT)
            raise
        parts += _map_entry(1, name, payload)
    return parts


def encode_tf_response(outputs: Mapping[str, Any]) -> bytes:
    """Serialize ``{name: array}`` as a TensorFlow PredictResponse."""
    return b"".join(tf_response_parts(outputs))

"""PyTorch-format requests and responses (SPEC.md §3, package ``pytorch.eas``).

``TorchRequest().add_feed(0, [1, 3, 224, 224], TorchRequest.DT_FLOAT, flat)`` as
the official client, or ``add_feed(0, x)`` with an array. ``TorchRequest(flag=True)``
snappy-compresses the body (raw snappy, no framing: SPEC §1 Snappy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from easlab.errors import ContentTypeError, OutputNotFound, RequestError
from easlab.wire import dtypes as d
from easlab.wire.base import (
    LEN,
    VARINT,
    Buffer,
    InconsistentMessage,
    MessageRequest,
    NeedsFallback,
    WireError,
    decode_varints,
    encode_varints,
    int_arg,
    iter_fields,
    len_field,
    pb_message,
    read_varint,
    tag,
    text_arg,
    varint,
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
from easlab.wire.tf import (
    TensorResponse,
    _map_entry,
    _parse_map,
    _pb_parse,
    _twice,
    server_array,
)

__all__ = [
    "TorchRequest",
    "TorchResponse",
    "TorchRequestData",
    "parse_torch_request",
    "parse_torch_request_layout",
    "encode_torch_response",
    "torch_response_parts",
]

_FMT = "PyTorch"


def _encode_torch_array(name: str, x: Any) -> list[Buffer]:
    return encode_numpy(name, x, wire=d.TORCH_WIRE, numpy_to_code=d.NUMPY_TO_TORCH, fmt=_FMT)


class TorchRequest(MessageRequest):
    """A request to a PyTorch service (inputs by position, optional named ``map_inputs``).

    ``request_data`` is the request as a generated ``PredictRequest``, as in the
    official client (see ``MessageRequest``); ``flag`` compresses what is sent.
    """

    _pb_request = ("torch_predict_pb2", "PredictRequest")

    DT_FLOAT = d.DT_FLOAT
    DT_DOUBLE = d.DT_DOUBLE
    DT_UINT8 = d.DT_UINT8
    DT_INT8 = d.DT_INT8
    DT_INT16 = d.DT_INT16
    DT_INT32 = d.DT_INT32
    DT_INT64 = d.DT_INT64
    # beyond the official seven: the format carries these too (SPEC §3)
    DT_STRING = d.DT_STRING
    DT_UINT16 = d.DT_UINT16
    DT_HALF = d.DT_HALF

    def __init__(self, flag: bool = False) -> None:
        self.flag = flag
        self._inputs: dict[int, list[Buffer]] = {}
        self._map_inputs: dict[str, list[Buffer]] = {}
        self._fetch: list[int] = []
        self.debug_level = 0

    def set_debug_level(self, dbg_lvl: int = 0) -> None:
        self.debug_level = int_arg("debug level", dbg_lvl)
        if self._message is not None:
            self._message.debug_level = self.debug_level

    def _encode_input(
        self, label: str, shape: Any, content_type: int | None, content: Any
    ) -> list[Buffer]:
        if content is None:
            x = shape
            if content_type is not None:
                if content_type not in d.TORCH_WIRE:
                    raise RequestError(
                        f"input {label}: the PyTorch format has no dtype code {content_type}"
                    )
                x = as_array(shape).astype(d.numpy_dtype(d.TORCH_WIRE[content_type][0]))
            return _encode_torch_array(label, x)
        if content_type is None:
            raise RequestError(f"input {label}: give the dtype, e.g. TorchRequest.DT_FLOAT")
        return encode_flat(label, shape, content_type, content, wire=d.TORCH_WIRE, fmt=_FMT)

    def add_feed(
        self, index: int, shape: Any, content_type: int | None = None, content: Any = None
    ) -> TorchRequest:
        """Set input ``index``: ``add_feed(0, shape, dtype, flat)`` or ``add_feed(0, array)``.

        Feeds may come in any order; every index below the highest must be fed
        by ``to_string()``. As with ``TFRequest``, a float array's memory is read
        by ``to_string()`` (no copy before).
        """
        index = int_arg("input index", index)
        if index < 0:
            raise RequestError(f"input index must be an int >= 0, got {index!r}")
        if index in self._inputs:
            raise RequestError(
                f"input {index} was already added; each index is fed once "
                "(the official client would concatenate both feeds)"
            )
        payload = self._encode_input(str(index), shape, content_type, content)
        self._inputs[index] = payload
        if self._message is not None:
            # as the official client: a higher index adds empty inputs below it
            while len(self._message.inputs) <= index:
                self._message.inputs.add()
            self._message.inputs[index].MergeFromString(b"".join(payload))
        return self

    def add_feed_map(
        self, index: str, shape: Any, content_type: int | None = None, content: Any = None
    ) -> TorchRequest:
        """Set a named input (``map_inputs``); same argument forms as ``add_feed``."""
        index = text_arg("map input name", index)
        if index in self._map_inputs:
            raise RequestError(f"map input {index!r} was already added; each name is fed once")
        payload = self._encode_input(repr(index), shape, content_type, content)
        self._map_inputs[index] = payload
        if self._message is not None:
            self._message.map_inputs[index].MergeFromString(b"".join(payload))
        return self

    def add_fetch(self, output_index: int) -> TorchRequest:
        """Ask for one output by index (with none, all outputs come back)."""
        output_index = int_arg("output index", output_index)
        self._fetch.append(output_index)
        if self._message is not None:
            self._message.output_filter.append(output_index)
        return self

    def to_string(self) -> bytes:
        """The serialized PredictRequest (snappy-compressed when ``flag`` is set)."""
        data = super().to_string()
        if self.flag:
            import cramjam

            data = bytes(cramjam.snappy.compress_raw(data))
        return data

    def _encode(self) -> bytes:
        """The serialized PredictRequest, uncompressed."""
        count = max(self._inputs) + 1 if self._inputs else 0
        missing = [i for i in range(count) if i not in self._inputs]
        if missing:
            raise RequestError(
                f"inputs {missing} were never fed but input {count - 1} was; "
                "PyTorch inputs are positional, so feed every index from 0"
            )
        parts: list[Buffer] = []
        for i in range(count):
            parts += len_field(1, self._inputs[i])
        if self._fetch:
            parts += len_field(2, [encode_varints(np.asarray(self._fetch, np.int64))])
        for name, payload in self._map_inputs.items():
            parts += _map_entry(3, name, payload)
        if self.debug_level:
            parts += [tag(100, VARINT), varint(self.debug_level)]
        return b"".join(parts)

    def parse_response(self, response_data: bytes) -> TorchResponse:
        return TorchResponse(response_data)

    @classmethod
    def from_numpy(
        cls,
        inputs: Sequence[Any] | Mapping[int, Any],
        fetch: list[int] | None = None,
        map_inputs: Mapping[str, Any] | None = None,
        flag: bool = False,
    ) -> TorchRequest:
        """One call: ``TorchRequest.from_numpy([x0, x1], fetch=[0])`` (a dict index→array works too)."""
        req = cls(flag)
        items = inputs.items() if isinstance(inputs, Mapping) else enumerate(inputs)
        for index, x in items:
            req.add_feed(index, x)
        for name, x in (map_inputs or {}).items():
            req.add_feed_map(name, x)
        for index in fetch or []:
            req.add_fetch(index)
        return req

    def __repr__(self) -> str:
        return f"TorchRequest(inputs={sorted(self._inputs)}, map_inputs={list(self._map_inputs)}, fetch={self._fetch})"


class TorchOutputNotFound(OutputNotFound, IndexError):
    """No such Torch output: an ``IndexError`` too, as the official ``TorchResponse`` raises."""


class TorchResponse(TensorResponse):
    """A PyTorch PredictResponse: ``resp[0]`` for positional outputs, ``resp['name']`` for map outputs."""

    _pb_message = ("torch_predict_pb2", "PredictResponse")
    _missing = TorchOutputNotFound

    def __init__(self, response_data: bytes | None = None) -> None:
        self._data = bytes(response_data or b"")
        outputs, map_outputs = _parse_response(self._data)
        self._positional = len(outputs)
        self._tensors = {**dict(enumerate(outputs)), **map_outputs}

    def _tensor(self, key: Any) -> WireTensor:
        # A negative index counts from the last positional output, as the official
        # client's repeated field does (get_values(-1)).
        if isinstance(key, int) and not isinstance(key, bool) and -self._positional <= key < 0:
            key += self._positional
        return super()._tensor(key)

    def get_tensor_shape(self, output_index: Any) -> list[int]:
        """Output ``output_index``'s shape as the message states it."""
        return super().get_tensor_shape(output_index)

    def get_values(self, output_index: Any) -> list[Any]:
        """Output ``output_index``'s values as a flat list (every dtype decoded)."""
        return super().get_values(output_index)

    def get_tensor_shape_map(self, output_index: str) -> list[int]:
        return self.get_tensor_shape(output_index)

    def get_values_map(self, output_index: str) -> list[Any]:
        return self.get_values(output_index)


# ---------------------------------------------------------------- server-side codec


@dataclass
class TorchRequestData:
    """A parsed PyTorch PredictRequest."""

    inputs: list[np.ndarray] = field(default_factory=list)
    map_inputs: dict[str, np.ndarray] = field(default_factory=dict)
    output_filter: list[int] = field(default_factory=list)
    debug_level: int = 0


def _int32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def _parse_request(data: bytes) -> tuple[TorchRequestData, list[ArrayLayout]]:
    spans: list[tuple[int, int]] = []
    map_spans: list[tuple[str, tuple[int, int]]] = []
    fetch: list[int] = []
    debug = 0
    for f, wt, a, b in iter_fields(data, 0, len(data)):
        if f == 1 and wt == LEN:
            spans.append((a, b))
        elif f == 2 and wt == LEN:
            fetch += [_int32(v) for v in decode_varints(data, a, b).tolist()]
        elif f == 2 and wt == VARINT:
            fetch.append(_int32(a))
        elif f == 3 and wt == LEN:
            map_spans.append(_parse_map(data, a, b, "map input"))
        elif f == 100 and wt == VARINT:
            debug = _int32(a)
        elif f in (1, 2, 3, 100):
            raise WireError(f"field {f} has unexpected wire type {wt}")
    layouts: list[ArrayLayout] = []
    inputs = []
    for i, (a, b) in enumerate(spans):
        layouts.append(scan_array_proto(data, a, b, f"input {i}"))
        layouts[-1].check_fields(d.TORCH_WIRE)
        inputs.append(layouts[-1].decode(data, d.TORCH_WIRE))
    named = {}
    for k, (a, b) in map_spans:
        if k in named:
            raise InconsistentMessage(_twice("map input", k))
        layouts.append(scan_array_proto(data, a, b, f"map input {k!r}"))
        layouts[-1].check_fields(d.TORCH_WIRE)
        named[k] = layouts[-1].decode(data, d.TORCH_WIRE)
    return _to_numpy(inputs, named, fetch, debug), layouts


def _to_numpy(
    inputs: list[WireTensor], named: dict[str, WireTensor], fetch: list[int], debug: int
) -> TorchRequestData:
    return TorchRequestData(
        [t.to_numpy(f"input {i}") for i, t in enumerate(inputs)],
        {k: t.to_numpy(f"map input {k!r}") for k, t in named.items()},
        fetch,
        debug,
    )


def _parse_request_any(data: bytes) -> tuple[TorchRequestData, list[ArrayLayout] | None]:
    try:
        return _parse_request(data)
    except NeedsFallback:
        msg = _pb_parse(
            pb_message("torch_predict_pb2", "PredictRequest"), data, "PyTorch PredictRequest"
        )
        parsed = _to_numpy(
            [from_pb(t, d.TORCH_WIRE, f"input {i}", True) for i, t in enumerate(msg.inputs)],
            {
                k: from_pb(msg.map_inputs[k], d.TORCH_WIRE, f"map input {k!r}", True)
                for k in msg.map_inputs
            },
            list(msg.output_filter),
            msg.debug_level,
        )
        return parsed, None


def parse_torch_request(data: bytes) -> TorchRequestData:
    """Parse a PyTorch PredictRequest body, snappy-compressed or not (WireError when malformed).

    SPEC §1 Snappy: the official ``TorchRequest(flag=True)`` compresses with no
    marker, so a body that does not parse, or parses to nothing, is tried
    decompressed.
    """
    return parse_torch_request_layout(data)[0]


def parse_torch_request_layout(data: bytes) -> tuple[TorchRequestData, RequestLayout | None]:
    """``parse_torch_request`` and the body's layout (``wire/layout.py``), whose ``read``
    gives a body shaped the same's ``inputs`` then ``map_inputs``, in order.

    The layout is None where no cache applies: a snappy body, string inputs, a
    map input named twice, or a body only the generated module reads.
    """
    data = bytes(data)
    error: WireError | None = None
    try:
        parsed, layouts = _parse_request_any(data)
        if parsed.inputs or parsed.map_inputs or not data:
            count = len(parsed.inputs) + len(parsed.map_inputs)
            cacheable = layouts is not None and len(layouts) == count and numeric_only(layouts)
            layout = RequestLayout(data, layouts, d.TORCH_WIRE) if cacheable else None  # type: ignore[arg-type]
            return parsed, layout
    except WireError as exc:
        error = exc
        parsed = None  # type: ignore[assignment]
    import cramjam

    try:
        _check_snappy_size(data)
        plain = bytes(cramjam.snappy.decompress_raw(data))
    except Exception as exc:  # not snappy either: report the protobuf problem
        if parsed is not None:
            return parsed, None
        if isinstance(error, InconsistentMessage):  # it is a PredictRequest: say what is wrong
            raise InconsistentMessage(f"PyTorch PredictRequest is inconsistent: {error}") from None
        why = f"; as snappy, {exc}" if isinstance(exc, WireError) else ""
        raise WireError(
            f"body is not a PyTorch PredictRequest (nor snappy-compressed one): {error}{why}"
        ) from None
    try:
        return _parse_request_any(plain)[0], None
    except WireError as exc:
        if parsed is not None:
            return parsed, None
        raise WireError(
            f"body is not a PyTorch PredictRequest (snappy-decompressed): {exc}"
        ) from None


#: the most a raw snappy stream can expand: a 3-byte copy element writes 64 bytes
_SNAPPY_MAX_RATIO = 22


def _check_snappy_size(data: bytes) -> None:
    """WireError when ``data``'s snappy preamble declares more output than its elements
    can write. The decompressor allocates the declared size first: 9 bytes declaring
    4 GiB aborted the process (a Rust allocation failure) under a memory limit."""
    declared, _ = read_varint(data, 0, min(len(data), 10))
    if declared > _SNAPPY_MAX_RATIO * len(data):
        raise WireError(
            f"its preamble declares {declared} bytes, more than "
            f"{len(data)} compressed bytes can hold"
        )


def _parse_response(data: bytes) -> tuple[list[WireTensor], dict[str, WireTensor]]:
    try:
        outputs: list[WireTensor] = []
        named: dict[str, WireTensor] = {}
        for f, wt, a, b in iter_fields(data, 0, len(data)):
            if f == 1 and wt == LEN:
                outputs.append(
                    decode_array_proto(data, a, b, d.TORCH_WIRE, f"output {len(outputs)}")
                )
            elif f == 2 and wt == LEN:
                key, (va, vb) = _parse_map(data, a, b, "map output")
                named[key] = decode_array_proto(data, va, vb, d.TORCH_WIRE, f"map output {key!r}")
        return outputs, named
    except NeedsFallback:
        msg = _pb_parse(
            pb_message("torch_predict_pb2", "PredictResponse"), data, "PyTorch PredictResponse"
        )
        return (
            [from_pb(t, d.TORCH_WIRE, f"output {i}") for i, t in enumerate(msg.outputs)],
            {
                k: from_pb(msg.map_outputs[k], d.TORCH_WIRE, f"map output {k!r}")
                for k in msg.map_outputs
            },
        )
    except WireError as exc:
        raise WireError(f"body is not a PyTorch PredictResponse: {exc}") from None


def _torch_output(name: str, x: Any) -> list[Buffer]:
    arr = server_array(name, x)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)  # the Torch ArrayProto has no bool_val (SPEC §3)
    try:
        return _encode_torch_array(name, arr)
    except ContentTypeError:  # an element no string_val holds: named as an output
        output_strings_error(name, arr, _FMT)
        raise


def torch_response_parts(
    outputs: Sequence[Any], map_outputs: Mapping[str, Any] | None = None
) -> list[Buffer]:
    """The parts of a PyTorch PredictResponse: positional outputs, then ``map_outputs``."""
    parts: list[Buffer] = []
    for i, x in enumerate(outputs):
        parts += len_field(1, _torch_output(f"output {i}", x))
    for name, x in (map_outputs or {}).items():
        parts += _map_entry(2, name, _torch_output(name, x))
    return parts


def encode_torch_response(
    outputs: Sequence[Any], map_outputs: Mapping[str, Any] | None = None
) -> bytes:
    """Serialize positional outputs (and named ``map_outputs``) as a PyTorch PredictResponse."""
    return b"".join(torch_response_parts(outputs, map_outputs))

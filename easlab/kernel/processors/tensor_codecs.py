"""The server side of the tensor wire formats (SPEC §3): bodies in, answers out.

A body is decoded into a ``TensorRequest`` by the server-side codecs in
``easlab/wire``, whatever its format. A processor that accepts several formats
(ONNX's ``auto``: TF, then DataProto) follows one rule, :func:`decode_first`:
the formats are tried in their order and the first that reads the body and
finds inputs in it wins. When none does, the most specific failure is
answered: a message that parsed but contradicts itself (``input 'x': shape
[2, 3] needs 6 values, the message carries 4``) before a message with no
inputs, before bytes that are no message of any format. ``CachedDecoder``
reads a body laid out like the last one without the full parser.

The Torch and Blade answers need their outputs arranged first
(``torch_outputs``, ``blade_outputs``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from easlab.kernel.packed import Packed
from easlab.kernel.processors.base import ProcessorError
from easlab.kernel.processors.signature import dtype_name
from easlab.wire import blade as blade_wire
from easlab.wire import onnx as onnx_wire
from easlab.wire import tf as tf_wire
from easlab.wire import torch as torch_wire
from easlab.wire.base import InconsistentMessage, WireError
from easlab.wire.dtypes import is_string_dtype


@dataclass
class TensorRequest:
    """A decoded request, whatever its wire format."""

    fmt: str  # "tf", "torch", "blade", "onnx": how to answer
    inputs: dict[str, np.ndarray]
    signature_name: str | None = None
    fetch: list[str] = field(default_factory=list)
    fetch_dtypes: dict[str, int] = field(default_factory=dict)  # Blade output_info codes


class CachedDecoder:
    """One wire format's decoder with the request-layout cache (``easlab/wire/layout.py``).

    It remembers the layout of the last body it parsed with the full parser,
    with what that body decoded to besides its arrays (format, signature name,
    fetch list, input names). A body the layout reads is answered from it;
    any other takes the full parser, whose layout then replaces the cached one.
    """

    def __init__(self, parse: Any) -> None:
        # parse(data) -> (TensorRequest, RequestLayout | None), the layout reading the
        # request's inputs in their dict order
        self._parse = parse
        self._last: tuple[Any, TensorRequest, tuple[str, ...]] | None = None
        self.hits = 0
        #: whether the last body was read by the cached layout (a repeated layout)
        self.repeated = False

    def __call__(self, data: bytes) -> TensorRequest:
        last = self._last
        if last is not None:
            layout, template, names = last
            arrays = layout.read(data)
            if arrays is not None:
                self.hits += 1
                self.repeated = True
                return filled_request(template, names, arrays)
        self.repeated = False
        request, layout = self._parse(data)
        if layout is not None and request.inputs and len(layout.slots) == len(request.inputs):
            template = TensorRequest(
                request.fmt,
                {},
                request.signature_name,
                list(request.fetch),
                dict(request.fetch_dtypes),
            )
            self._last = (layout, template, tuple(request.inputs))
        return request

    def read_packed(self, batch: Packed) -> TensorRequest | None:
        """One request holding every body's inputs stacked along axis 0, when all bodies
        have the cached layout and fixed-width tensors (``RequestLayout.read_packed``);
        each body alone would decode to the same request with its own rows. Else None."""
        last = self._last
        if last is None:
            return None
        layout, template, names = last
        if batch.width() != layout.size:
            return None
        arrays = layout.read_packed(batch.joined(), len(batch))
        if arrays is None:
            return None
        self.hits += len(batch)
        return filled_request(template, names, arrays)


def filled_request(
    template: TensorRequest, names: Sequence[str], arrays: list[Any]
) -> TensorRequest:
    """The cached request ``template`` with these input arrays (its lists copied)."""
    return TensorRequest(
        template.fmt,
        dict(zip(names, arrays, strict=True)),
        template.signature_name,
        list(template.fetch),
        dict(template.fetch_dtypes),
    )


def decode_tf(data: bytes) -> TensorRequest:
    return decode_tf_layout(data)[0]


def decode_tf_layout(data: bytes) -> tuple[TensorRequest, Any]:
    """``decode_tf`` and the body's layout (``CachedDecoder``)."""
    req, layout = tf_wire.parse_tf_request_layout(data)
    request = TensorRequest(
        fmt="tf",
        inputs=dict(req.inputs),
        signature_name=req.signature_name or None,
        fetch=list(req.output_filter),
    )
    return request, layout


def decode_torch(data: bytes) -> TensorRequest:
    """Torch inputs are positional: input i is named ``str(i)``; ``map_inputs`` keep their names."""
    return decode_torch_layout(data)[0]


def decode_torch_layout(data: bytes) -> tuple[TensorRequest, Any]:
    """``decode_torch`` and the body's layout (``CachedDecoder``)."""
    req, layout = torch_wire.parse_torch_request_layout(data)
    inputs = {str(i): arr for i, arr in enumerate(req.inputs)}
    for name, arr in req.map_inputs.items():
        if name in inputs:
            raise ProcessorError(400, f"map input {name!r} clashes with positional input {name}")
        inputs[name] = arr
    request = TensorRequest(fmt="torch", inputs=inputs, fetch=[str(i) for i in req.output_filter])
    return request, layout


def decode_blade(data: bytes) -> TensorRequest:
    req = blade_wire.parse_blade_request(data)
    return TensorRequest(
        fmt="blade",
        inputs=dict(req.inputs),
        signature_name=req.signature_name or None,
        fetch=[name for name, _ in req.output_info],
        fetch_dtypes={name: code for name, code in req.output_info},
    )


def decode_onnx(data: bytes) -> TensorRequest:
    return TensorRequest(fmt="onnx", inputs=dict(onnx_wire.parse_onnx_request(data)))


DECODERS = {"tf": decode_tf, "torch": decode_torch, "blade": decode_blade, "onnx": decode_onnx}


def decode_first(
    data: bytes, formats: Sequence[str], decoders: Mapping[str, Any] | None = None
) -> TensorRequest:
    """Decode a body that may be in any of ``formats``, tried in that order (module doc).

    The first format that reads the body and finds inputs wins. Otherwise the
    answer is, in this order: a 400 with the first format's message that parsed
    but is inconsistent (it names the input and its shape); the first request
    that parsed with no inputs (the signature check then names what is missing);
    a 400 with why the body is none of the formats. ``decoders`` (default: the
    full parsers) may replace a format's decoder by its ``CachedDecoder``.
    """
    table = DECODERS if decoders is None else decoders
    inconsistent: tuple[str, WireError] | None = None
    empty: TensorRequest | None = None
    unreadable: list[tuple[str, WireError]] = []
    for fmt in formats:
        try:
            request = table[fmt](data)
        except InconsistentMessage as exc:
            inconsistent = inconsistent or (fmt, exc)
            continue
        except WireError as exc:
            unreadable.append((fmt, exc))
            continue
        if request.inputs:
            return request
        empty = empty or request
    if inconsistent is not None:
        raise ProcessorError(400, f"cannot parse the {inconsistent[0]} request: {inconsistent[1]}")
    if empty is not None:
        return empty
    if len(unreadable) == 1:
        message = f"cannot parse the {unreadable[0][0]} request: {unreadable[0][1]}"
    else:
        message = f"cannot parse the request as any of {', '.join(formats)}: " + "; ".join(
            f"as {fmt}: {error}" for fmt, error in unreadable
        )
    raise ProcessorError(400, message + _json_hint(data, formats))


# the largest body describe_body decodes: the kernel's event loop does it
_DESCRIBE_LIMIT = 4 << 20


def describe_body(data: bytes, request_format: str | None) -> str:
    """What a request was, for the service log when its instance died holding it
    (``Service.on_calls_orphaned``): its size and, for a tensor service's body that
    decodes, each input's name, shape and dtype (``'x' [2, 4] DT_FLOAT``), so the
    request that crashed a model can be told from the others. Only a dead instance's
    requests get here."""
    size = f"{len(data)} bytes"
    if request_format not in DECODERS or len(data) > _DESCRIBE_LIMIT:
        return size
    formats = (request_format, "onnx") if request_format == "tf" else (request_format,)
    try:
        request = decode_first(data, formats)
    except Exception:  # noqa: BLE001 - a body no format reads: its size says what there is
        return size
    shapes = ", ".join(
        f"{name!r} [{', '.join(map(str, arr.shape))}] {dtype_name(arr.dtype)}"
        for name, arr in request.inputs.items()
    )
    return f"{size}, {request.fmt} inputs {shapes or '(none)'}"


# what the serialized request of each format is built with (the hint for a JSON body)
_REQUEST_CLASSES = {
    "tf": "TFRequest",
    "torch": "TorchRequest",
    "blade": "BladeRequest",
    "onnx": "OnnxRequest",
}


def _json_hint(data: bytes, formats: Sequence[str]) -> str:
    """For a body that is JSON (a DataFrame or dict sent as JSON, a curl example of
    another service): what a tensor service takes instead. Only failed bodies get here."""
    head = bytes(data[:64]).lstrip()
    if head[:1] not in (b"{", b"["):
        return ""
    try:
        json.loads(bytes(data))
    except ValueError:
        return ""
    classes = " / ".join(_REQUEST_CLASSES.get(fmt, fmt) for fmt in formats)
    return (
        f". The body is JSON; this tensor service takes a serialized protobuf request "
        f"({classes}): send numpy arrays through easlab's client (e.g. "
        "client.predict({name: array}) builds it from the service's signature) or build "
        f"a {classes.split(' / ')[0]} with eas_prediction"
    )


def torch_outputs(outputs: dict[str, np.ndarray]) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Ordinal names ("0", "1", ...) go in ``outputs``, any other name in ``map_outputs``.

    The list keeps the dict's order: the model's order, or the fetch order when
    the request filtered (``add_fetch(2)`` answers a one-element list).
    """
    listed = [a for n, a in outputs.items() if n.isdigit()]
    named = {n: a for n, a in outputs.items() if not n.isdigit()}
    return listed, named


def encode_torch_outputs(outputs: dict[str, np.ndarray]) -> bytes:
    """The Torch answer for ``outputs`` (``torch_outputs`` says where each goes)."""
    listed, named = torch_outputs(outputs)
    return torch_wire.encode_torch_response(listed, map_outputs=named or None)


# Blade's DataType codes (SPEC §3) → numpy; DT_UNKNOWN (0) leaves the choice to the encoder.
_BLADE_CODE_DTYPE: dict[int, np.dtype[Any]] = {
    1: np.dtype(np.float32),
    2: np.dtype(np.int32),
    3: np.dtype(np.int64),
}


_BLADE_STRING = 4


def blade_outputs(outputs: dict[str, np.ndarray], dtypes: dict[str, int]) -> dict[str, np.ndarray]:
    """Cast each output to the dtype its ``output_info`` asked for."""
    out = {}
    for name, arr in outputs.items():
        code = dtypes.get(name, 0)
        if code == _BLADE_STRING and not is_string_dtype(arr.dtype):
            raise ProcessorError(
                400,
                f"output {name!r} is {dtype_name(arr.dtype)}; it cannot be fetched as DT_STRING",
            )
        want = _BLADE_CODE_DTYPE.get(code)
        if want is not None and arr.dtype != want:
            if is_string_dtype(arr.dtype):
                raise ProcessorError(
                    400, f"output {name!r} is DT_STRING; it cannot be fetched as {dtype_name(want)}"
                )
            arr = arr.astype(want)
        out[name] = arr
    return out

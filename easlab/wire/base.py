"""Protobuf wire primitives, the wire error type and the request/response bases.

easlab writes and reads the EAS protobuf messages by hand (SPEC.md §3) so
that tensors go straight between numpy buffers and the wire: the packed
``float_val`` of a 1x3x224x224 image is one ``memoryview`` of the array, never a
Python list. The generated ``easlab/wire/proto/*_pb2.py`` modules stay the
reference (tests compare against them) and the fallback for unusual but legal
encodings (unpacked repeated fields).
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Union

import numpy as np

from easlab.errors import (
    ArgumentTypeError,
    DimensionTypeError,
    DTypeError,
    EaslabError,
    RequestError,
    ShapeError,
)

__all__ = [
    "WireError",
    "InconsistentMessage",
    "Request",
    "MessageRequest",
    "Response",
    "Buffer",
    "varint",
    "tag",
    "len_field",
    "iter_fields",
    "read_varint",
    "encode_varints",
    "decode_varints",
    "check_shape",
]

# A chunk of bytes the encoder joins once at the end (bytes or a numpy buffer).
Buffer = Union[bytes, bytearray, memoryview]

# protobuf wire types
VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5


class WireError(EaslabError, ValueError):
    """Bytes that are not a well-formed message of the expected format."""


class InconsistentMessage(WireError):
    """A well-formed message of the expected format whose parts contradict each
    other, e.g. a shape that needs more values than the message carries.

    Unlike a plain WireError, it says the body *is* of that format: a processor
    that accepts several formats reports it before "not a message of format X"
    (processors/tensor_codecs.py, ``decode_first``).
    """


class NeedsFallback(Exception):
    """The fast reader met a legal encoding it does not handle (e.g. unpacked
    repeated numbers): the caller parses with the generated protobuf module."""


# ---------------------------------------------------------------- encoding


def varint(value: int) -> bytes:
    """Encode one non-negative int (or a negative int as 64-bit two's complement)."""
    if value < 0:
        value += 1 << 64
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


@functools.lru_cache(maxsize=256)
def tag(field: int, wire_type: int) -> bytes:
    return varint((field << 3) | wire_type)


def len_field(field: int, payload: Sequence[Buffer]) -> list[Buffer]:
    """The parts of a length-delimited field whose payload is ``payload`` (parts).

    Parts are bytes or byte-format memoryviews (``le_view``), so ``len`` is their size.
    """
    return [tag(field, LEN), varint(sum(map(len, payload))), *payload]


def encode_varints(values: np.ndarray) -> bytes:
    """Encode a 1-D integer array as concatenated varints, vectorised.

    Negative numbers take ten bytes, as protobuf writes negative int32/int64.
    """
    if values.size == 0:
        return b""
    if values.size <= 16:  # shapes and tiny feeds: a Python loop beats numpy's call overhead
        return b"".join([varint(v) for v in values.tolist()])
    v = np.ascontiguousarray(values, dtype=np.int64).view(np.uint64).ravel()
    if int(v.max()) < 0x80:  # the common case: small non-negative ints, one byte each
        return v.astype(np.uint8).tobytes()
    nbytes = np.ones(v.shape, np.int64)
    for k in range(1, 10):
        nbytes += v >= np.uint64(1 << (7 * k))
    ends = np.cumsum(nbytes)
    starts = ends - nbytes
    out = np.empty(int(ends[-1]), np.uint8)
    for k in range(int(nbytes.max())):
        live = nbytes > k
        chunk = ((v[live] >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8)
        chunk |= np.where(nbytes[live] > k + 1, 0x80, 0).astype(np.uint8)
        out[starts[live] + k] = chunk
    return out.tobytes()


def le_view(arr: Any, dtype: str) -> memoryview:
    """The array's bytes, C order, in little-endian ``dtype`` (a view when no cast is needed)."""
    flat = np.ascontiguousarray(arr, dtype=dtype).reshape(-1)
    return memoryview(flat).cast("B")  # type: ignore[arg-type]  # ndarray exports the buffer protocol


def pb_message(module: str, name: str) -> Any:
    """A fresh message of the generated module ``easlab.wire.proto.<module>`` (the slow, general path)."""
    return getattr(importlib.import_module(f"easlab.wire.proto.{module}"), name)()


def pb_text(message: Any) -> str:
    """``message`` in protobuf text format, as ``str(message)`` is under the official client.

    The official client's protobuf (3.20, pure Python) writes map entries sorted by key
    and floats at their shortest (``3.0``, ``0.33333334``); ``str()`` of a modern (upb)
    message keeps the map's hash order and prints ``3``, ``0.333333343``. protobuf's
    ``text_format`` still writes the official text.
    """
    from google.protobuf import text_format

    return str(text_format.MessageToString(message))


# ---------------------------------------------------------------- decoding


def read_varint(data: Buffer, pos: int, end: int) -> tuple[int, int]:
    """Read one varint at ``pos``; return (value, next position)."""
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise WireError("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireError("varint longer than 10 bytes")


def iter_fields(data: Buffer, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(field, wire_type, value_or_start, stop)`` for each field of a message.

    For LEN fields the third item is where the payload starts and the fourth
    where it stops; for VARINT it is the value; for I32/I64 the value's offset.
    """
    pos = start
    while pos < end:
        key, pos = read_varint(data, pos, end)
        field, wire_type = key >> 3, key & 7
        if field == 0:
            raise WireError(f"field number 0 at byte {pos}")
        if wire_type == VARINT:
            value, pos = read_varint(data, pos, end)
            yield field, wire_type, value, pos
        elif wire_type == LEN:
            size, pos = read_varint(data, pos, end)
            stop = pos + size
            if stop > end:
                raise WireError(f"field {field} claims {size} bytes, only {end - pos} left")
            yield field, wire_type, pos, stop
            pos = stop
        elif wire_type == I32:
            if pos + 4 > end:
                raise WireError(f"truncated fixed32 field {field}")
            yield field, wire_type, pos, pos + 4
            pos += 4
        elif wire_type == I64:
            if pos + 8 > end:
                raise WireError(f"truncated fixed64 field {field}")
            yield field, wire_type, pos, pos + 8
            pos += 8
        else:
            # groups are proto2 history and never appear in EAS messages
            raise WireError(f"unsupported wire type {wire_type} (field {field})")


#: packed varints up to this many bytes are decoded in plain Python: a shape such as
#: [1, 784] is three bytes, and numpy's fifteen calls would cost ~40 µs for them
SMALL_VARINTS = 48


def decode_varints(data: bytes, start: int, stop: int) -> np.ndarray:
    """Decode packed varints in ``data[start:stop]`` to a uint64 array, vectorised."""
    if stop - start <= SMALL_VARINTS:
        return np.array(_small_varints(data, start, stop), np.uint64)
    buf = np.frombuffer(data, np.uint8, stop - start, start)
    if buf.size == 0:
        return np.zeros(0, np.uint64)
    if buf[-1] & 0x80:
        raise WireError("truncated packed varint field")
    term = buf < 0x80
    if term.all():
        return buf.astype(np.uint64)
    ends = np.flatnonzero(term)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    lengths = ends - starts + 1
    if int(lengths.max()) > 10:
        raise WireError("varint longer than 10 bytes")
    out = np.zeros(ends.size, np.uint64)
    for k in range(int(lengths.max())):
        live = lengths > k
        out[live] |= (buf[starts[live] + k] & 0x7F).astype(np.uint64) << np.uint64(7 * k)
    return out


def _small_varints(data: bytes, start: int, stop: int) -> list[int]:
    out: list[int] = []
    value = shift = 0
    for pos in range(start, stop):
        byte = data[pos]
        if shift > 63:
            raise WireError("varint longer than 10 bytes")
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            out.append(value & 0xFFFFFFFFFFFFFFFF)
            value = shift = 0
        else:
            shift += 7
    if shift:
        raise WireError("truncated packed varint field")
    return out


def text(data: bytes, start: int, stop: int, what: str) -> str:
    try:
        return bytes(data[start:stop]).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WireError(f"{what} is not valid UTF-8: {exc}") from None


# ---------------------------------------------------------------- validation


def check_shape(name: str, shape: Iterable[Any]) -> list[int]:
    """Return ``shape`` as a list of ints; ShapeError for negative or non-integer dims."""
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Iterable):
        raise ShapeError(
            f"input {name!r}: shape must be a list of ints such as [1, 784], got {shape!r}"
        )
    dims: list[int] = []
    for d in shape:
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)):
            if isinstance(d, (float, np.floating)) and float(d).is_integer():
                d = int(d)
            else:
                raise DimensionTypeError(
                    f"input {name!r}: shape {list(shape)} has a non-integer dimension {d!r}"
                )
        if d < 0:
            raise ShapeError(
                f"input {name!r}: shape {list(shape)} has a negative dimension {int(d)}; "
                "requests carry concrete shapes (no -1 wildcard)"
            )
        dims.append(int(d))
    return dims


def text_arg(what: str, value: Any) -> str:
    """A name argument as str (bytes UTF-8 decoded, as protobuf's string fields take them);
    ``ArgumentTypeError`` (a TypeError) for anything else, before it reaches the wire."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestError(f"{what} {value!r} is not UTF-8 text") from None
    raise ArgumentTypeError(f"{what} must be a str, got {type(value).__name__} {value!r}")


def int_arg(what: str, value: Any) -> int:
    """An integer argument (an output index, a debug level) as int; ``ArgumentTypeError``
    (a TypeError) for anything else, where ``int()`` would quietly truncate 1.5 or read "1"."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ArgumentTypeError(f"{what} must be an int, got {type(value).__name__} {value!r}")
    return int(value)


def check_count(name: str, shape: list[int], count: int) -> None:
    """ShapeError unless ``count`` values fill ``shape`` exactly."""
    volume = math.prod(shape)
    if volume != count:
        raise ShapeError(
            f"input {name!r}: shape {shape} holds {volume} values but the content has {count}; "
            "pass a flat list whose length is the product of the shape"
        )


def refuse_dtype(name: str, dtype: Any, fmt: str, supported: Iterable[str], hint: str = "") -> None:
    raise DTypeError(
        f"input {name!r}: the {fmt} format cannot carry dtype {dtype}; "
        f"supported: {', '.join(supported)}" + (f". {hint}" if hint else "")
    )


# ---------------------------------------------------------------- bases


class Request:
    """Base of every request: ``to_string()`` gives the body bytes."""

    #: The arrays by input name when the request was built from a signature
    #: (``easlab.wire.build``), as they were sent; None otherwise.
    named_inputs: dict[str, np.ndarray] | None = None

    def to_string(self) -> bytes:
        raise NotImplementedError

    def parse_response(self, response_data: bytes) -> Response:
        raise NotImplementedError

    def __bytes__(self) -> bytes:
        return self.to_string()


class MessageRequest(Request):
    """A request of a protobuf format that easlab encodes by hand, with the official
    client's ``request_data``: the request as the generated protobuf message.

    Until ``request_data`` is first read, ``to_string()`` joins easlab's encoded parts
    (``_encode``). Reading it parses those bytes into the message once; from then on
    the message *is* the request, as in the official client: changes made to it are
    sent, and later ``add_*``/``set_*`` calls write into it too (``_message``).
    """

    #: the generated module (``easlab.wire.proto.<module>``) and message of the request
    _pb_request: tuple[str, str]
    #: the message once ``request_data`` was read (None: easlab's own parts are the request)
    _message: Any = None

    def _encode(self) -> bytes:
        """The body from easlab's own parts (what ``request_data`` starts from)."""
        raise NotImplementedError

    @property
    def request_data(self) -> Any:
        """The request as its generated protobuf message (the official attribute); see the class."""
        if self._message is None:
            message = pb_message(*self._pb_request)
            # Partial: a proto2 message (Blade) is checked where it is sent, not here.
            message.MergeFromString(self._encode())
            self._message = message
        return self._message

    @request_data.setter
    def request_data(self, message: Any) -> None:
        self._message = message

    def to_string(self) -> bytes:
        message = self._message
        if message is None:
            return self._encode()
        try:
            own = self._encode()
        except EaslabError:  # e.g. a Torch input index left out, which the message allows
            own = None
        if own is not None:
            unchanged = pb_message(*self._pb_request)
            unchanged.MergeFromString(own)
            if unchanged == message:
                # Only read: easlab's bytes, whose map entries keep the order they were
                # added in (as the official client's); upb would serialize them reordered.
                return own
        return bytes(message.SerializeToString())


#: "not given" for an argument that has an official alias (None is a value there)
UNSET: Any = object()


def one_of(what: str, value: Any, official_name: str, official_value: Any) -> Any:
    """The argument given under easlab's name or under the official client's, e.g.
    ``batch_size`` / ``batchsize``; TypeError when both or neither are given."""
    if official_value is UNSET:
        if value is UNSET:
            raise TypeError(f"{what} is missing (also accepted as {official_name}=)")
        return value
    if value is not UNSET:
        raise TypeError(f"{what} was given twice: as {what}= and as {official_name}=")
    return official_value


class Response:
    """Base of every response."""

    def to_string(self) -> str:
        raise NotImplementedError

"""numpy ⇄ ``ArrayProto`` bytes (TensorFlow and PyTorch formats), without Python lists.

Encoding writes packed numeric fields straight from the array's buffer;
decoding finds the packed field spans and hands them to ``np.frombuffer``.
Both follow SPEC.md §3 for where each dtype travels.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from easlab.errors import ContentTypeError, DTypeError
from easlab.wire import dtypes as d
from easlab.wire.base import (
    LEN,
    VARINT,
    Buffer,
    InconsistentMessage,
    NeedsFallback,
    WireError,
    check_count,
    check_shape,
    decode_varints,
    encode_varints,
    iter_fields,
    le_view,
    len_field,
    refuse_dtype,
    tag,
    varint,
)

# a format's dtype code -> (numpy dtype name, value field) (dtypes.TF_WIRE, TORCH_WIRE)
WireTable = Mapping[int, tuple[str, int]]
_NUMERIC_FIELDS = (d.FLOAT_VAL, d.DOUBLE_VAL, d.INT_VAL, d.INT64_VAL, d.BOOL_VAL)
_FIELD_NAMES = {
    d.FLOAT_VAL: "float_val",
    d.DOUBLE_VAL: "double_val",
    d.INT_VAL: "int_val",
    d.INT64_VAL: "int64_val",
    d.BOOL_VAL: "bool_val",
    d.STRING_VAL: "string_val",
}
# the dtype a value field decodes to when the dtype code says nothing useful
_FIELD_DEFAULT = {
    d.FLOAT_VAL: "float32",
    d.DOUBLE_VAL: "float64",
    d.INT_VAL: "int32",
    d.INT64_VAL: "int64",
    d.BOOL_VAL: "bool",
    d.STRING_VAL: "object",
}


def dims_text(dims: list[int]) -> str:
    """A request's dims for an error message: a hostile body may declare a million of
    them (each one byte), which the message must not echo back whole."""
    if len(dims) <= _SHOWN_DIMS:
        return str(dims)
    return "[" + ", ".join(map(str, dims[:_SHOWN_DIMS])) + f", ... ({len(dims)} dims)]"


_SHOWN_DIMS = 16


def negative_dims(label: str, dims: list[int]) -> str:
    """What a decoder says of a request shape with a negative dimension."""
    return (
        f"{label}: dims {dims_text(dims)}: a dimension cannot be negative; send the array's "
        "real shape (-1 marks the batch dimension of a signature, never of a request)"
    )


def shaped(values: np.ndarray, dims: list[int], label: str) -> np.ndarray:
    """``values`` reshaped to a request's ``dims``, whose product the caller checked
    against the value count; InconsistentMessage naming the input when numpy cannot
    hold that shape at all: more than 64 dims, or an empty shape whose other dims
    multiply past what an array may address (``[0, 2**63 - 1]`` carries no values,
    so the count check passes, and numpy's own ValueError named no input)."""
    try:
        return values.reshape(dims)
    except ValueError:
        if len(dims) > 64:
            why = f"it has {len(dims)} dimensions, an array at most 64"
        else:
            why = "its dimensions multiply past what an array can address"
        raise InconsistentMessage(
            f"{label}: shape {dims_text(dims)} cannot be held: {why}; send the array's real shape"
        ) from None


@dataclass
class WireTensor:
    """One decoded ArrayProto: wire dtype code, wire shape (None: absent), flat values."""

    dtype: int
    shape: list[int] | None
    values: np.ndarray

    def to_numpy(self, label: str) -> np.ndarray:
        """The values reshaped to the wire shape; WireError if they do not fill it."""
        count = self.values.size
        if self.shape is None:
            # SPEC §3: a scalar may come with no array_shape at all
            return self.values.reshape(()) if count == 1 else self.values
        if any(n < 0 for n in self.shape):
            # SPEC §1: -1 is the batch dimension of a *signature*; a request carries
            # its array's real shape. Refused before the count check, which two
            # negative dims can pass ((-2) * (-2) == 4 values) and reshape cannot.
            raise InconsistentMessage(negative_dims(label, self.shape))
        if math.prod(self.shape) != count:
            raise InconsistentMessage(
                f"{label}: shape {dims_text(self.shape)} needs {math.prod(self.shape)} values, "
                f"the message carries {count}"
            )
        return shaped(self.values, self.shape, label)


# ---------------------------------------------------------------- numpy -> wire


_BY_DTYPE: dict[int, dict[np.dtype[Any], int]] = {}


def _lookup(table: Mapping[str, int], dtype: np.dtype[Any]) -> int | None:
    """``table[dtype.name]``, through a dtype-keyed cache (``dtype.name`` is slow)."""
    cache = _BY_DTYPE.setdefault(id(table), {})
    code = cache.get(dtype)
    if code is None:
        code = table.get(dtype.name)
        if code is not None:
            cache[dtype] = code
    return code


def wire_code(
    name: str, dtype: np.dtype[Any], table: Mapping[str, int], fmt: str, string_code: int | None
) -> int:
    """The wire dtype code for a numpy dtype; DTypeError when the format lacks it."""
    if d.is_string_dtype(dtype):
        if string_code is None:
            refuse_dtype(name, dtype, fmt, table)
        return string_code  # type: ignore[return-value]
    code = _lookup(table, dtype)
    if code is None:
        hint = ""
        if dtype.kind == "u" and dtype.itemsize >= 4:
            hint = f"cast it, e.g. x.astype(np.int64) (values must fit), since {fmt} has no {dtype}"
        elif dtype.kind == "b":
            hint = "cast it, e.g. x.astype(np.uint8)"
        elif dtype.kind in "fc":
            hint = "cast it, e.g. x.astype(np.float32)"
        refuse_dtype(name, dtype, fmt, sorted(table) + (["str/bytes"] if string_code else []), hint)
    return code  # type: ignore[return-value]


def to_strings(name: str, values: Iterable[Any]) -> list[bytes]:
    """Elements of a string feed as bytes (str is UTF-8 encoded)."""
    out: list[bytes] = []
    for i, v in enumerate(values):
        if isinstance(v, bytes):
            out.append(v)
        elif isinstance(v, str):
            try:
                out.append(v.encode("utf-8"))
            except UnicodeEncodeError as exc:  # a lone surrogate (surrogateescape'd bytes)
                raise ContentTypeError(
                    f"input {name!r}: element {i} ({v!r:.40}) has no UTF-8 form ({exc.reason}); "
                    "pass it as bytes, or as str without lone surrogates"
                ) from None
        else:
            raise ContentTypeError(
                f"input {name!r}: element {i} of a string feed is {type(v).__name__}; "
                "DT_STRING carries bytes or str"
            )
    return out


def to_output_strings(name: str, arr: np.ndarray, fmt: str) -> list[bytes]:
    """An answer's text output as the bytes its ``string_val`` carries.

    A model's output of dicts, lists or None (an ONNX ZipMap, a pandas column) has no
    such form: ``WireError`` naming the output, the element and what ``fmt`` carries,
    which the tensor processors answer as the model's side (``to_strings`` says
    "input", and its ``ContentTypeError`` is a request's error).
    """
    try:
        return to_strings(name, arr.ravel().tolist())
    except ContentTypeError:
        output_strings_error(name, arr, fmt)
        raise


def output_strings_error(name: str, arr: np.ndarray, fmt: str) -> None:
    """Raise the ``WireError`` of a text output that holds an element no format carries."""
    for i, v in enumerate(arr.ravel().tolist()):
        if isinstance(v, bytes):
            continue
        if isinstance(v, str):
            try:
                v.encode("utf-8")
                continue
            except UnicodeEncodeError as exc:
                why = f"is a str with no UTF-8 form ({exc.reason}: {v!r:.40})"
        else:
            why = f"is {type(v).__name__} ({v!r:.40})"
        raise WireError(
            f"output {name!r}: element {i} {why}; the {fmt} format carries numbers, bool "
            "and str/bytes: return a numeric array, or text (e.g. json.dumps of each "
            "element) for it"
        )


def as_array(x: Any) -> np.ndarray:
    """``np.asarray(x)``, except that str/bytes elements stay whole in an object array.

    numpy's fixed-width ``S``/``U`` dtypes drop trailing NUL characters, so a
    list such as ``[b"ab\\x00"]`` would lose bytes on its way to ``string_val``.
    """
    if isinstance(x, np.ndarray):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind in "SU":
        return np.array(x, dtype=object)
    return arr


def listed(content: Any) -> Any:
    """``content`` with a one-pass iterable (generator, ``map``, ``dict.values()``, set)
    read into a list, as the official client's ``extend`` reads it; numpy would make
    a 0-d object array of it. Sequences, arrays and scalars are returned as they are."""
    if (
        isinstance(content, Iterable)
        and not isinstance(content, (Sequence, np.ndarray, str, bytes, bytearray))
        and not hasattr(content, "__array__")
        and not hasattr(content, "__array_interface__")
    ):
        return list(content)
    return content


def _not_numbers(name: str, content: Any, src: np.ndarray, target: np.dtype[Any]) -> str:
    """Why ``content`` (``src`` as numpy read it) cannot be values of ``target``."""
    if src.dtype.kind == "O" and src.ndim == 0:
        return (
            f"input {name!r}: content is of type {type(content).__name__}, not a flat list "
            f"of {target} values"
        )
    if src.dtype.kind == "O":
        for i, v in enumerate(src.ravel().tolist()):
            if not isinstance(v, (int, float, complex, np.number, np.bool_)):
                return (
                    f"input {name!r}: content element {i} is {type(v).__name__} ({v!r:.40}) "
                    f"but the dtype says {target}; pass a flat list of numbers"
                )
    return f"input {name!r}: content holds {src.dtype} values but the dtype says {target}"


def content_array(name: str, content: Any, target: np.dtype[Any]) -> np.ndarray:
    """Flat content (list, any iterable, scalar or array) as a 1-D array of ``target``, checked."""
    content = listed(content)
    if target.kind == "O":
        strings = to_strings(name, as_array(content).ravel().tolist())
        out = np.empty(len(strings), dtype=object)
        out[:] = strings
        return out
    src = np.asarray(content)
    if src.dtype.kind in "OSUV":
        raise ContentTypeError(_not_numbers(name, content, src, target))
    flat = src.reshape(-1)
    if target.kind in "iu":
        if flat.dtype.kind == "f" and flat.size and not np.all(np.floor(flat) == flat):
            raise ContentTypeError(
                f"input {name!r}: content has non-integer values for an integer dtype ({target})"
            )
        if flat.dtype.kind == "c":
            raise ContentTypeError(
                f"input {name!r}: complex content for an integer dtype ({target})"
            )
        if flat.size and flat.dtype.kind in "iuf":
            info = np.iinfo(target)
            lo, hi = flat.min(), flat.max()
            if lo < info.min or hi > info.max:
                raise DTypeError(
                    f"input {name!r}: values from {lo} to {hi} do not fit {target} "
                    f"({info.min}..{info.max})"
                )
    if target.kind in "fb" and flat.dtype.kind == "c":
        raise ContentTypeError(f"input {name!r}: complex content for a {target} dtype")
    if target.kind == "f" and flat.dtype != target:  # no cast, no overflow: no errstate cost
        # A float64 beyond float32's range becomes inf, as protobuf's own float
        # field does for the official client; numpy would also warn about it.
        with np.errstate(over="ignore"):
            return flat.astype(target, copy=False)
    return flat.astype(target, copy=False)


_le = le_view


def encode_values(field: int, values: np.ndarray | list[bytes]) -> list[Buffer]:
    """The parts of one value field (packed numbers, or one string_val per element)."""
    if field == d.STRING_VAL:
        parts: list[Buffer] = []
        for s in values:
            parts += [tag(field, LEN), varint(len(s)), s]
        return parts
    assert isinstance(values, np.ndarray)
    if values.size == 0:
        return []  # proto3: an empty repeated field is not written
    if field == d.FLOAT_VAL:
        payload: Buffer = _le(values, "<c8") if values.dtype.kind == "c" else _le(values, "<f4")
    elif field == d.DOUBLE_VAL:
        payload = _le(values, "<c16") if values.dtype.kind == "c" else _le(values, "<f8")
    elif field == d.BOOL_VAL:
        payload = values.astype(np.uint8).tobytes()
    else:
        payload = encode_varints(values.reshape(-1))
    return len_field(field, [payload])


def encode_array_proto(code: int, shape: list[int] | None, field: int, values: Any) -> list[Buffer]:
    """ArrayProto payload parts: dtype, array_shape (always written when given, as
    the official client does even for a scalar), then the value field.

    A float field's part may be a view of the caller's array: it is read when
    the parts are joined (one copy for the whole request).
    """
    parts: list[Buffer] = []
    if code:
        parts += [tag(1, VARINT), varint(code)]
    if shape is not None:
        dims = len_field(1, [encode_varints(np.asarray(shape, np.int64))]) if shape else []
        parts += len_field(2, dims)
    parts += encode_values(field, values)
    return parts


def encode_numpy(
    name: str,
    x: Any,
    *,
    wire: Mapping[int, tuple[str, int]],
    numpy_to_code: Mapping[str, int],
    fmt: str,
) -> list[Buffer]:
    """ArrayProto payload parts for an array (shape and dtype from the array)."""
    arr = as_array(x)
    string_code = d.DT_STRING if d.DT_STRING in wire else None
    code = wire_code(name, arr.dtype, numpy_to_code, fmt, string_code)
    shape = check_shape(name, arr.shape)
    field = wire[code][1]
    if code == d.DT_STRING:
        return encode_array_proto(code, shape, field, to_strings(name, arr.ravel().tolist()))
    return encode_array_proto(code, shape, field, arr)


def encode_flat(
    name: str,
    shape: Any,
    code: int,
    content: Any,
    *,
    wire: Mapping[int, tuple[str, int]],
    fmt: str,
    const_names: Mapping[int, str] = d.TF_DTYPE_NAMES,
) -> list[Buffer]:
    """ArrayProto payload parts for the official call shape ``(shape, dtype, flat content)``."""
    dims = check_shape(name, shape)
    if code not in wire:
        label = const_names.get(code, str(code))
        raise DTypeError(
            f"input {name!r}: the {fmt} format cannot carry dtype {label}; "
            f"use one of {', '.join(const_names.get(c, str(c)) for c in wire)}"
        )
    npname, field = wire[code]
    values = content_array(name, content, d.numpy_dtype(npname))
    check_count(name, dims, len(values))
    if code == d.DT_STRING:
        return encode_array_proto(code, dims, field, list(values))
    return encode_array_proto(code, dims, field, values)


# ---------------------------------------------------------------- wire -> numpy


def _span_bytes(data: bytes, spans: list[tuple[int, int]]) -> tuple[bytes, int, int]:
    if len(spans) == 1:
        return data, spans[0][0], spans[0][1]
    joined = b"".join(data[a:b] for a, b in spans)  # a packed field split in several records
    return joined, 0, len(joined)


def _raw_field(data: bytes, field: int, spans: list[tuple[int, int]], label: str) -> np.ndarray:
    """The packed values of one field, widened to the field's own wire type."""
    buf, a, b = _span_bytes(data, spans)
    size = b - a
    if field in (d.FLOAT_VAL, d.DOUBLE_VAL):
        item = 4 if field == d.FLOAT_VAL else 8
        if size % item:
            raise WireError(
                f"{label}: {_FIELD_NAMES[field]} has {size} bytes, not a multiple of {item}"
            )
        dt = "<f4" if item == 4 else "<f8"
        # astype to the native type is the one copy (frees the response buffer)
        return np.frombuffer(buf, dt, size // item, a).astype(
            np.float32 if item == 4 else np.float64
        )
    raw = decode_varints(buf, a, b)
    if field == d.BOOL_VAL:
        return raw != 0
    return raw.view(np.int64)


def check_value_fields(label: str, code: int, filled: Collection[int], wire: WireTable) -> None:
    """A request tensor's values lie in the one field its dtype travels in (SPEC §3).

    The decoder reads the dtype's own field only, so values sent in another field
    were read as none ("shape [1, 4] needs 4 values, the message carries 0", though
    it carries 4) and values in a second field were dropped without a word: the model
    ran on half of what the client sent. ``filled``: the value fields that hold
    values. Only a request is held to this; a response is read as it comes.
    """
    if code in wire:
        if len(filled) < 2 and (not filled or wire[code][1] in filled):
            return  # the common case: one field, the dtype's own
    elif code != d.DT_INVALID:
        # DT_RESOURCE, a code past the enum, DT_BOOL in a Torch request: the values were
        # read from whatever field held them, as if no dtype had been given
        raise InconsistentMessage(
            f"{label}: dtype {d.TF_DTYPE_NAMES.get(code, code)} is not one this format "
            f"carries; send one of {', '.join(d.TF_DTYPE_NAMES[c] for c in sorted(wire))}"
        )
    elif len(filled) < 2:
        return  # no dtype: the one filled field says what the values are
    names = " and ".join(_FIELD_NAMES[f] for f in sorted(filled))
    if code not in wire:
        raise InconsistentMessage(
            f"{label}: values in {names} and no dtype that says which to read; "
            "set the tensor's dtype"
        )
    dtype, own = d.TF_DTYPE_NAMES.get(code, str(code)), _FIELD_NAMES[wire[code][1]]
    if len(filled) > 1:
        raise InconsistentMessage(
            f"{label}: values in {names}; a {dtype} tensor's values travel in {own} only"
        )
    raise InconsistentMessage(
        f"{label}: {dtype} values travel in {own}, but this tensor's are in {names}; "
        f"send them in {own}, or set the dtype whose values {names} carries"
    )


def finish_values(
    code: int,
    raws: Mapping[int, np.ndarray],
    strings: list[bytes],
    wire: Mapping[int, tuple[str, int]],
    label: str,
) -> np.ndarray:
    """Turn raw field arrays into the flat numpy array the dtype code asks for."""
    if code in wire:
        npname, field = wire[code]
    else:
        # DT_INVALID or a code this format does not define: take whatever field is filled
        field = next(
            (
                f
                for f in (*_NUMERIC_FIELDS, d.STRING_VAL)
                if f in raws or (f == d.STRING_VAL and strings)
            ),
            d.FLOAT_VAL,
        )
        npname = _FIELD_DEFAULT[field]
    if field == d.STRING_VAL:
        out = np.empty(len(strings), dtype=object)
        out[:] = strings
        return out
    raw = raws.get(field)
    target = d.numpy_dtype(npname)
    if raw is None:
        return np.zeros(0, target)
    if target.kind == "c":
        if raw.size % 2:
            raise WireError(
                f"{label}: {target} values come as re/im pairs, got an odd count {raw.size}"
            )
        return raw.view(np.complex64 if raw.dtype == np.float32 else np.complex128).astype(
            target, copy=False
        )
    return raw.astype(target, copy=False)


def _decode_shape(data: bytes, start: int, stop: int) -> list[int]:
    dims: list[int] = []
    for field, wt, a, b in iter_fields(data, start, stop):
        if field != 1:
            continue
        if wt == LEN:
            dims.extend(decode_varints(data, a, b).view(np.int64).tolist())
        elif wt == VARINT:  # unpacked dims: legal protobuf
            dims.append(a - (1 << 64) if a >= 1 << 63 else a)
    return dims


@dataclass
class ArrayLayout:
    """Where one ArrayProto's parts lie in a body: what ``decode_array_proto`` reads
    before it touches the packed values (those it only locates, as ``spans``)."""

    code: int
    shape: list[int] | None
    spans: dict[int, list[tuple[int, int]]]
    strings: list[bytes]
    label: str

    def check_fields(self, wire: WireTable) -> None:
        """``check_value_fields`` for a request tensor's layout (a field written empty
        holds no values)."""
        spans, code = self.spans, self.code
        if len(spans) == 1 and not self.strings and code in wire and wire[code][1] in spans:
            return  # the common case, without building a list
        filled = [f for f, parts in spans.items() if any(b > a for a, b in parts)]
        check_value_fields(self.label, code, filled + [d.STRING_VAL] * bool(self.strings), wire)

    def decode(self, data: bytes, wire: Mapping[int, tuple[str, int]]) -> WireTensor:
        """The tensor, its values read from ``data`` at ``spans``."""
        raws = {f: _raw_field(data, f, s, self.label) for f, s in self.spans.items()}
        return WireTensor(
            self.code, self.shape, finish_values(self.code, raws, self.strings, wire, self.label)
        )


def numeric_only(layouts: Iterable[ArrayLayout]) -> bool:
    """No string tensor among them (a string tensor's bytes are no value span)."""
    return not any(t.strings or t.code == d.DT_STRING for t in layouts)


def scan_array_proto(data: bytes, start: int, stop: int, label: str) -> ArrayLayout:
    """Read the ArrayProto at ``data[start:stop]`` up to its packed values (which are located).

    Raises NeedsFallback for unpacked repeated numbers, WireError for malformed bytes.
    """
    code = 0
    shape: list[int] | None = None
    spans: dict[int, list[tuple[int, int]]] = {}
    strings: list[bytes] = []
    for field, wt, a, b in iter_fields(data, start, stop):
        if field == 1 and wt == VARINT:
            code = a
        elif field == 2 and wt == LEN:
            # protobuf merges a repeated array_shape: its dims add up (in place: a body
            # repeating it 400k times took minutes when each one copied the list)
            if shape is None:
                shape = []
            shape += _decode_shape(data, a, b)
        elif field == d.STRING_VAL and wt == LEN:
            strings.append(bytes(data[a:b]))
        elif field in _NUMERIC_FIELDS:
            if wt != LEN:
                raise NeedsFallback(label)
            spans.setdefault(field, []).append((a, b))
    return ArrayLayout(code, shape, spans, strings, label)


def decode_array_proto(
    data: bytes, start: int, stop: int, wire: Mapping[int, tuple[str, int]], label: str
) -> WireTensor:
    """Decode one ArrayProto found at ``data[start:stop]``.

    Raises NeedsFallback for unpacked repeated numbers (the caller then parses
    with the generated module), WireError for malformed bytes.
    """
    return scan_array_proto(data, start, stop, label).decode(data, wire)


def from_pb(
    pb: Any, wire: Mapping[int, tuple[str, int]], label: str, request: bool = False
) -> WireTensor:
    """A WireTensor from a generated-module ArrayProto (the slow, general path); a
    ``request`` tensor's values must lie in its dtype's field (``check_value_fields``)."""
    raws: dict[int, np.ndarray] = {}
    for field, fname in _FIELD_NAMES.items():
        if field == d.STRING_VAL or not hasattr(pb, fname):
            continue
        values = list(getattr(pb, fname))
        if values:
            dtype = {d.FLOAT_VAL: np.float32, d.DOUBLE_VAL: np.float64, d.BOOL_VAL: np.bool_}.get(
                field, np.int64
            )
            raws[field] = np.asarray(values, dtype=dtype)
    if request:
        filled = [*raws, d.STRING_VAL] if len(pb.string_val) else list(raws)
        check_value_fields(label, int(pb.dtype), filled, wire)
    shape = list(pb.array_shape.dim) if pb.HasField("array_shape") else None
    return WireTensor(
        int(pb.dtype), shape, finish_values(int(pb.dtype), raws, list(pb.string_val), wire, label)
    )

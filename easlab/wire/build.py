"""From what a user has in hand to a request object: the one encoder of every call.

``to_request(value, signature)`` is what ``PredictClient.predict``, ``%%eas
predict``, ``easlab.bench`` and the debug widget call, so the same value becomes
the same bytes everywhere. Below it, ``request_from_signature(signature_json, x)``
builds (and checks) the request a tensor service's signature asks for, and
``build_request("tf", {"images": x}, signature_name="predict_images")`` one of a
given format.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Union

import numpy as np

from easlab.errors import ArgumentTypeError, DTypeError, RequestError, ShapeError
from easlab.wire import dtypes as d
from easlab.wire.base import Request
from easlab.wire.tensor import as_array, content_array

__all__ = [
    "FORMATS",
    "TENSOR_FORMATS",
    "build_request",
    "is_tensor_signature",
    "request_from_signature",
    "to_request",
]

FORMATS = ("tf", "torch", "blade", "onnx", "json", "string")
#: the formats whose requests carry tensors; a signature of another format (PMML's
#: ``"json"``) describes JSON fields
TENSOR_FORMATS = ("tf", "torch", "blade", "onnx")

#: A signature (the ``GET /api/predict/<service>`` JSON), None for a service without
#: one, or a callable ``source(required=...)`` that reads it only when a value needs it
#: (``required=True``: numpy arrays, which mean nothing without one; the source may
#: then raise its own error).
SignatureSource = Union[Mapping[str, Any], None, Callable[..., Union[Mapping[str, Any], None]]]


def is_tensor_signature(signature: Mapping[str, Any] | None) -> bool:
    """True for the signature of a tensor service (format tf, torch, blade or onnx)."""
    if not signature or not isinstance(signature.get("inputs"), list):
        return False
    return str(signature.get("format") or "tf").lower() in TENSOR_FORMATS


def _read(source: SignatureSource, required: bool) -> Mapping[str, Any] | None:
    if callable(source):
        return source(required=required)
    return source


def _is_dataframe(value: Any) -> bool:
    pandas = sys.modules.get("pandas")  # a DataFrame can exist only if pandas is imported
    return pandas is not None and isinstance(value, pandas.DataFrame)


def _is_records(value: Any) -> bool:
    return (
        isinstance(value, (list, tuple))
        and bool(value)
        and all(isinstance(r, Mapping) for r in value)
    )


def _is_arrays(value: Any) -> bool:
    """A numpy array, or a non-empty list/tuple of them (positional inputs)."""
    if isinstance(value, np.ndarray):
        return True
    return (
        isinstance(value, (list, tuple))
        and bool(value)
        and all(isinstance(x, np.ndarray) for x in value)
    )


_PLAIN = (list, tuple, bool, int, float, complex, np.generic)


def to_request(
    value: Any,
    signature: SignatureSource = None,
    *,
    signature_name: str | None = None,
    fetch: list[Any] | None = None,
) -> Request:
    """The request for ``value``, sent to a service with ``signature``: one rule everywhere.

    * a request object (anything with ``to_string`` and ``parse_response``): itself;
    * ``bytes`` / ``str``: a ``StringRequest``, sent as is;
    * a DataFrame or a list of dicts: a ``JsonRequest`` of records, but a
      DataFrame (or list of dicts, read as one) sent to a tensor service is its
      inputs' values: a column per
      input when its columns name them all, else the whole frame (rows ×
      columns) as the one input of a one-input service, converted to the
      input's dtype as lists are (``frame_inputs``);
    * a **dict**: against a tensor service (a signature of format tf, torch,
      blade or onnx), the tensor request built from the signature, each value
      (array, list or scalar) checked or converted by its input's dtype and
      shape; against a service without one (python, custom or PMML
      processors), a ``JsonRequest`` (arrays become nested lists);
    * a numpy array, or a list of arrays (positional, torch): the tensor request
      built from the signature; there must be one;
    * another list, a number: the value of a one-input tensor service
      (converted as above), else JSON;
    * to a **Seldon** service (a signature of format ``seldon``): a DataFrame,
      records, a numpy array or a list becomes the message
      ``{"data": {"names": [...], "ndarray": [...]}}`` and a dict is a SeldonMessage
      sent as is, both as a ``SeldonRequest`` whose answer reads back as a DataFrame
      (``easlab.wire.seldon``).

    ``signature`` is the signature JSON, None, or a callable ``source(required=...)``
    called only for values that need it. ``signature_name`` / ``fetch`` pass to
    tensor requests. Raises ``RequestError`` (``ShapeError``, ``DTypeError``)
    naming the input when a value cannot become what the service takes, and
    ``TypeError`` for a value nothing can send.
    """
    if hasattr(value, "to_string") and hasattr(value, "parse_response"):
        return value  # type: ignore[no-any-return]
    if isinstance(value, (bytes, bytearray, memoryview, str)):
        from easlab.wire.string import StringRequest

        return StringRequest(value if isinstance(value, (bytes, str)) else bytes(value))
    arrays = _is_arrays(value)
    frame = _is_dataframe(value) or _is_records(value)
    if not (frame or arrays or isinstance(value, Mapping) or isinstance(value, _PLAIN)):
        pandas = sys.modules.get("pandas")
        if pandas is not None and isinstance(value, pandas.Series):
            # a row (df.iloc[0]) or a column (df["x"]): which one is meant is the user's
            raise ArgumentTypeError(
                "cannot send a pandas Series: pass a row as series.to_frame().T (a one-row "
                "DataFrame) or series.to_dict(), a column as {name: series.to_numpy()}"
            )
        # an ArgumentTypeError is a TypeError, as before, and a RequestError, which the
        # notebook shows as one line (a %%eas predict cell whose value is None or a set
        # was a traceback into easlab)
        what = (
            "None (an expression that returns nothing, such as a call to print())"
            if value is None
            else f"a {type(value).__name__}"
        )
        raise ArgumentTypeError(
            f"cannot send {what}: pass a request object (TFRequest, "
            "StringRequest, ...), bytes or str, a dict of input name -> numpy array, a numpy "
            "array, or a DataFrame / list of dicts"
        )
    sig = _read(signature, required=arrays)
    if sig is not None and not isinstance(value, (bool, int, float, complex, np.generic)):
        from easlab.wire.seldon import SeldonRequest, is_seldon_signature, seldon_message

        if is_seldon_signature(sig):  # a dict is a SeldonMessage, sent as written
            message = value if isinstance(value, Mapping) else seldon_message(value, sig)
            return SeldonRequest(message)
    if frame and is_tensor_signature(sig) and (sig or {}).get("inputs"):
        assert sig is not None
        # records are a table as a DataFrame is: no tensor processor reads a JSON body
        if _is_dataframe(value):
            inputs = frame_inputs(value, sig)
        else:
            inputs = frame_inputs(_records_frame(value), sig, kind="list of dicts")
        return request_from_signature(sig, inputs, signature_name=signature_name, fetch=fetch)
    if frame:
        return build_request("json", value)
    if is_tensor_signature(sig):
        assert sig is not None
        return request_from_signature(sig, value, signature_name=signature_name, fetch=fetch)
    if arrays:
        why = "has no signature" if sig is None else f"takes {sig.get('format')} requests"
        raise RequestError(
            f"numpy inputs need a tensor service (tf, torch, blade, onnx), and this one {why}: "
            "send a dict (sent as JSON), bytes, str, or a request object instead"
        )
    return build_request("json", value)


def _records_frame(records: Sequence[Mapping[str, Any]]) -> Any:
    """A list of dicts as the DataFrame of its rows (columns: the keys, in first-seen order)."""
    import pandas as pd

    return pd.DataFrame.from_records(list(records))


def frame_inputs(
    frame: Any, signature: Mapping[str, Any], takes: str | None = None, kind: str = "DataFrame"
) -> dict[str, Any]:
    """A DataFrame as the inputs of a tensor service (``to_request``, ``%%eas predict``).

    A tensor processor cannot read a JSON body, so a frame becomes its inputs: a frame
    whose columns are the input names gives one input per column; a one-input service
    otherwise takes the frame's values (rows x columns: 784 columns named 0..783 are
    one input of shape [-1, 784]) in the input's dtype, converted as a list is (pandas'
    floats are float64). A frame that fits neither is refused, naming the inputs;
    ``takes`` opens the message (default: the signature's tensors); ``kind`` names
    what the user gave (a list of dicts is read as the DataFrame of its rows).
    """
    specs = [s for s in signature.get("inputs") or [] if isinstance(s, Mapping)]
    names = [str(s.get("name", i)) for i, s in enumerate(specs)]
    columns = [str(c) for c in frame.columns]
    takes = takes or f"the service takes tensors {tensors_text(signature)}"
    if set(columns) == set(names) and len(columns) == len(names):
        # one input per column, each converted (and checked) by its input's dtype and shape
        return {
            name: frame[column].tolist()
            for name, column in zip(columns, frame.columns, strict=True)
        }
    if len(specs) == 1:
        return {names[0]: _frame_values(frame, specs[0], names[0], takes, kind)}
    missing = [n for n in names if n not in columns]
    extra = [c for c in columns if c not in names]
    wrong = "; ".join(
        part for part in (missing and f"no column {missing}", extra and f"no input {extra}") if part
    )
    example = ", ".join(f"{n!r}: array" for n in names)
    raise RequestError(
        f"{takes}; a {kind} fills them by column name (key), and this one has columns "
        f"{columns} ({wrong}): rename or select its columns, or pass a dict {{{example}}}"
    )


def _frame_values(
    frame: Any, spec: Mapping[str, Any], name: str, takes: str, kind: str = "DataFrame"
) -> Any:
    """A whole DataFrame as the one input ``name``: its values, in the input's dtype."""
    raw = spec.get("shape")
    shape = [int(x) for x in raw] if isinstance(raw, list) else None
    rows, cols = frame.shape
    if shape is not None and len(shape) == 2 and 0 <= shape[1] != cols:
        raise RequestError(
            f"{takes}; the {kind} has {cols} column{'s' if cols != 1 else ''} "
            f"({', '.join(map(str, frame.columns))}), so its rows cannot be input {name!r}: "
            f"give it {shape[1]} columns, or pass a dict {{{name!r}: array}}"
        )
    dtype = _expected_dtype(spec.get("type"))
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
        # a text column makes the frame's values objects, and the check that follows
        # would name the first item's type (a float), not the column at fault
        text = [str(c) for c, t in frame.dtypes.items() if getattr(t, "kind", "O") not in "biuf"]
        if text:
            raise DTypeError(
                f"{takes}; the {kind}'s column{'s' if len(text) > 1 else ''} {text} "
                f"{'hold' if len(text) > 1 else 'holds'} text (or other objects), so its "
                f"rows cannot be input {name!r} ({dtype}): drop or convert "
                f"{'them' if len(text) > 1 else 'it'}, e.g. df.drop(columns={text}) or "
                f"df.astype(np.{dtype.name})"
            )
    values = frame.to_numpy()
    if shape is not None and len(shape) == 1 and cols == 1:
        values = values.reshape(rows)  # one column as a 1-D input
    if isinstance(dtype, np.dtype) and values.dtype.kind in "biuf" and dtype.kind in "biuf":
        # converted (and checked: no fractions into integers) as a list would be
        return content_array(name, values, dtype).reshape(values.shape)
    return values.tolist()  # the signature's check converts it, or refuses it by name


def tensors_text(signature: Mapping[str, Any]) -> str:
    """A tensor signature's inputs as ``{x: float32[-1,4]}`` (for messages)."""
    parts = []
    for i, spec in enumerate(signature.get("inputs") or []):
        dtype = _expected_dtype(spec.get("type"))
        kind = str(dtype) if isinstance(dtype, np.dtype) else str(spec.get("type") or "?").lower()
        shape = spec.get("shape")
        dims = "[" + ",".join(str(x) for x in shape) + "]" if isinstance(shape, list) else ""
        parts.append(f"{spec.get('name', i)}: {kind}{dims}")
    return "{" + ", ".join(parts) + "}"


def _named(fmt: str, inputs: Any) -> Mapping[str, Any]:
    if not isinstance(inputs, Mapping):
        raise RequestError(
            f"the {fmt} format takes a dict of input name -> array, got {type(inputs).__name__}"
        )
    return inputs


def build_request(
    fmt: str,
    inputs: Any,
    signature_name: str | None = None,
    fetch: list[Any] | None = None,
) -> Request:
    """Build a request of format ``fmt`` from arrays, records or bytes.

    Parameters
    ----------
    fmt : "tf", "torch", "blade", "onnx", "json" or "string".
    inputs : dict name→array (tf, blade, onnx); list, or dict index→array
        (torch; str keys become named ``map_inputs``); DataFrame or list of
        dicts (json); bytes or str (string).
    signature_name : model signature (tf, blade).
    fetch : output names (tf, blade) or indexes (torch) to return; all when None.

    Example: ``build_request("torch", [x]).to_string()``
    """
    fmt = (fmt or "tf").lower()
    if fmt == "tf":
        from easlab.wire.tf import TFRequest

        return TFRequest.from_numpy(signature_name, _named(fmt, inputs), fetch=fetch)
    if fmt == "torch":
        from easlab.wire.torch import TorchRequest

        if isinstance(inputs, Mapping):
            positional = {k: v for k, v in inputs.items() if not isinstance(k, str)}
            named = {k: v for k, v in inputs.items() if isinstance(k, str)}
            return TorchRequest.from_numpy(positional, fetch=fetch, map_inputs=named)
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        if not isinstance(inputs, Sequence):
            raise RequestError(
                f"the torch format takes a list of arrays, got {type(inputs).__name__}"
            )
        return TorchRequest.from_numpy(list(inputs), fetch=fetch)
    if fmt == "blade":
        from easlab.wire.blade import BladeRequest

        return BladeRequest.from_numpy(
            _named(fmt, inputs), fetch=fetch, signature_name=signature_name
        )
    if fmt == "onnx":
        from easlab.wire.onnx import OnnxRequest

        if fetch:
            raise RequestError("ONNX requests have no fetch list; the service returns all outputs")
        return OnnxRequest.from_numpy(_named(fmt, inputs))
    if fmt == "json":
        from easlab.wire.json import JsonRequest

        return JsonRequest(inputs)
    if fmt == "string":
        from easlab.wire.string import StringRequest

        return StringRequest(inputs)
    raise RequestError(f"unknown request format {fmt!r}; use one of {', '.join(FORMATS)}")


# ---------------------------------------------------------------- signatures


def _expected_dtype(type_name: Any) -> np.dtype[Any] | str | None:
    """numpy dtype for a signature's ``type`` ("DT_FLOAT", "float32", "tensor(float)");
    "string" for string inputs; None when unknown (no check)."""
    if not isinstance(type_name, str):
        return None
    name = type_name.strip()
    if name.startswith("tensor(") and name.endswith(")"):
        name = name[7:-1]
        name = {"float": "float32", "double": "float64", "float16": "float16"}.get(name, name)
    if name.upper().startswith("DT_"):
        code = next((c for c, n in d.TF_DTYPE_NAMES.items() if n == name.upper()), None)
        if code is None or code not in d.TF_WIRE:
            return None
        npname = d.TF_WIRE[code][0]
        return "string" if npname == "object" else d.numpy_dtype(npname)
    if name.lower() in ("string", "str", "bytes", "object"):
        return "string"
    try:
        return np.dtype(name)
    except TypeError:
        return None


def _fit_shape(want: list[int], size: int) -> tuple[int, ...] | None:
    """``want`` with its one ``-1`` (if any) resolved for ``size`` values; None if impossible."""
    known = 1
    for w in want:
        if w >= 0:
            known *= w
    free = [i for i, w in enumerate(want) if w < 0]
    if len(free) > 1 or (not free and known != size) or (free and (known == 0 or size % known)):
        return None
    fitted = list(want)
    for i in free:
        fitted[i] = size // known
    return tuple(fitted)


def _shape_ok(want: list[int], got: tuple[int, ...]) -> bool:
    return len(want) == len(got) and all(w < 0 or w == g for w, g in zip(want, got, strict=True))


def _signature_shape(spec: Mapping[str, Any]) -> list[int] | None:
    shape = spec.get("shape")
    if isinstance(shape, Sequence) and not isinstance(shape, str):
        return [int(s) for s in shape]
    return None


def _convert(name: str, spec: Mapping[str, Any], x: Any, expected: Any) -> np.ndarray:
    """A list or scalar (no dtype intent) as an array of the input's dtype and shape.

    A flat list (or a scalar) takes the declared shape when its values fit it,
    as the official client's flat ``add_feed`` values do; nested lists keep theirs.
    """
    hint = "; pass a numpy array" + (
        f", e.g. np.asarray(value, dtype=np.{expected.name})"
        if isinstance(expected, np.dtype)
        else ""
    )
    try:
        src = as_array(x)
    except ValueError as exc:  # ragged nesting
        raise ShapeError(
            f"input {name!r}: cannot make an array of this value ({exc}){hint}"
        ) from None
    arr = src
    if isinstance(expected, np.dtype):
        if src.dtype.kind == "O":
            raise DTypeError(
                f"input {name!r}: expected {spec.get('type')} ({expected}), the value holds "
                f"{type(src.ravel()[0]).__name__ if src.size else 'object'} items{hint}"
            )
        try:
            arr = content_array(name, src, expected).reshape(src.shape)
        except RequestError as exc:
            raise DTypeError(f"{exc}{hint}") from None
    want = _signature_shape(spec)
    if want is not None and not _shape_ok(want, arr.shape) and arr.ndim <= 1:
        fitted = _fit_shape(want, arr.size)
        if fitted is not None:
            arr = arr.reshape(fitted)
    if want is not None and not _shape_ok(want, arr.shape):
        kind = "a scalar" if src.ndim == 0 else f"a list of shape {list(src.shape)}"
        dtype = f" and dtype {expected}" if isinstance(expected, np.dtype) else ""
        raise ShapeError(
            f"input {name!r}: expected shape {want} (-1 is any size), received {kind} "
            f"that does not fit it; pass a numpy array of that shape{dtype}"
        )
    return arr


def _check_input(name: str, spec: Mapping[str, Any], x: Any) -> np.ndarray:
    expected = _expected_dtype(spec.get("type"))
    if not isinstance(x, np.ndarray):
        # a list or scalar carries no dtype intent: take the signature's
        x = _convert(name, spec, x, expected)
    arr = x
    if expected == "string":
        if not d.is_string_dtype(arr.dtype):
            raise DTypeError(
                f"input {name!r}: expected {spec.get('type')} (strings), received {arr.dtype}"
            )
    elif isinstance(expected, np.dtype) and arr.dtype != expected:
        # numpy has no np.bfloat16: ml_dtypes' is the one TF and JAX (and the wire) use
        module = "ml_dtypes" if expected.name == "bfloat16" else "np"
        if arr.dtype.kind in "OSU":  # text where numbers go: a cast would not fix words
            fix = (
                f"this input takes numbers, not text: pass an array of them, e.g. "
                f"np.asarray(values, dtype={module}.{expected.name})"
            )
        else:
            fix = f"cast it, e.g. x.astype({module}.{expected.name})"
        raise DTypeError(
            f"input {name!r}: expected {spec.get('type')} ({expected}), received {arr.dtype}; "
            + fix
        )
    want = _signature_shape(spec)
    if want is not None and not _shape_ok(want, arr.shape):
        raise ShapeError(
            f"input {name!r}: expected shape {want} (-1 is any size), received "
            f"{list(arr.shape)}{_shape_hint(want, arr.shape)}"
        )
    return arr


def _shape_hint(want: list[int], got: tuple[int, ...]) -> str:
    """The fix when an array is one batch dimension off: one row given as a 1-D array
    for a [-1, 4] input (the commonest first call), or a batch of one for an input
    without a batch dimension. Empty otherwise: the numbers say it."""
    if len(got) == len(want) - 1 and _shape_ok(want[1:], got):
        return "; one row as a batch of one: x.reshape(1, -1) (or x[np.newaxis])"
    if len(got) == len(want) + 1 and got[0] == 1 and _shape_ok(want, got[1:]):
        return "; this input has no batch dimension: pass x[0]"
    rest = want[1:]
    if (
        want[:1] == [-1]
        and got
        and rest
        and all(d > 0 for d in rest)
        and math.prod(got[1:]) == math.prod(rest)
        and tuple(got[1:]) != tuple(rest)
    ):
        # the same values per row in another layout (28x28 images for a [-1, 784] input)
        return f"; each row holds the right number of values: x.reshape(-1, {', '.join(map(str, rest))})"
    if len(got) == len(want):
        # the rank is right: name the axes whose fixed size differs
        wrong = [
            f"axis {i} has {g} where the input takes {w}"
            for i, (w, g) in enumerate(zip(want, got, strict=True))
            if w >= 0 and w != g
        ]
        if wrong:
            fits = [g if w < 0 else w for w, g in zip(want, got, strict=True)]
            return f"; {', '.join(wrong)}: pass an array of shape {fits}"
    return ""


def request_from_signature(
    signature_json: Mapping[str, Any],
    inputs: Any,
    signature_name: str | None = None,
    fetch: list[Any] | None = None,
) -> Request:
    """Build the request a tensor service's signature asks for, checking the inputs.

    ``signature_json`` is the ``GET /api/predict/<service>`` answer (SPEC §1;
    ``"format"`` defaults to "tf"). ``inputs`` is a dict name→array, or a
    single array when the signature has one input (a list of arrays for torch).
    Lists and scalars are converted to the input's dtype (and a flat list to
    its shape). Missing or unknown names raise ShapeError, wrong dtypes
    DTypeError, shapes that do not match (``-1`` matches any size) ShapeError.
    ``signature_name`` other than the published one sends that model signature
    unchecked (the service publishes only its default); ``fetch`` names outputs.

    The request's ``named_inputs`` holds the arrays as sent, by input name.
    """
    fmt = str(signature_json.get("format") or "tf").lower()
    specs = list(signature_json.get("inputs") or [])
    names = [str(s.get("name", i)) for i, s in enumerate(specs)]
    if fmt in ("json", "string"):
        return build_request(fmt, inputs)
    if fmt == "torch" and not isinstance(inputs, Mapping) and _is_arrays(inputs):
        inputs = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
        inputs = {names[i] if i < len(names) else str(i): x for i, x in enumerate(inputs)}
    elif not isinstance(inputs, Mapping):
        if len(specs) != 1:
            raise ShapeError(
                f"the service takes {len(specs)} inputs ({names}); pass a dict of name -> array"
            )
        inputs = {names[0]: inputs}
    given = {str(k): v for k, v in inputs.items()}
    published = signature_json.get("signature_name")
    if signature_name and published and signature_name != published:
        # another model signature than the published one: nothing to check against
        checked = {n: as_array(x) for n, x in given.items()}
        request = build_request(fmt, checked, signature_name=signature_name, fetch=fetch)
        request.named_inputs = checked
        return request
    missing = [n for n in names if n not in given]
    unknown = [n for n in given if n not in names]
    if specs and (missing or unknown):
        raise ShapeError(
            "inputs do not match the signature: "
            + (f"missing {missing}" if missing else "")
            + ("; " if missing and unknown else "")
            + (f"unknown {unknown}" if unknown else "")
            + f"; the service takes {names}"
        )
    spec_of = dict(zip(names, specs, strict=False))
    checked = {
        n: _check_input(n, spec_of[n], x) if n in spec_of else as_array(x) for n, x in given.items()
    }
    if fmt == "torch":
        # torch signatures name inputs by position ("0", "1", ...) or by name in order
        ordered = [checked[n] for n in names] if specs else list(checked.values())
        request = build_request("torch", ordered, fetch=fetch)
    else:
        request = build_request(
            fmt, checked, signature_name=signature_name or published, fetch=fetch
        )
    request.named_inputs = checked
    return request

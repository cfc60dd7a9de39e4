"""One entry point from numpy / DataFrame / bytes to a request object.

``build_request("tf", {"images": x}, signature_name="predict_images")`` and
``request_from_signature(signature_json, x)`` are what ``PredictClient.predict``,
the ``%%eas predict`` magic and the debug widget call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from easlab.errors import DTypeError, RequestError, ShapeError
from easlab.wire import dtypes as d
from easlab.wire.base import Request
from easlab.wire.tensor import as_array

__all__ = ["FORMATS", "build_request", "request_from_signature"]

FORMATS = ("tf", "torch", "blade", "onnx", "json", "string")


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


def _check_input(name: str, spec: Mapping[str, Any], x: Any) -> np.ndarray:
    expected = _expected_dtype(spec.get("type"))
    if isinstance(x, np.ndarray):
        arr = x
    elif isinstance(expected, np.dtype):
        # a list or scalar carries no dtype intent: take the signature's
        try:
            arr = np.asarray(x, dtype=expected)
        except (ValueError, TypeError) as exc:
            raise DTypeError(
                f"input {name!r}: expected {spec.get('type')}, cannot convert: {exc}"
            ) from None
    else:
        arr = as_array(x)
    if expected == "string":
        if not d.is_string_dtype(arr.dtype):
            raise DTypeError(
                f"input {name!r}: expected {spec.get('type')} (strings), received {arr.dtype}"
            )
    elif isinstance(expected, np.dtype) and arr.dtype != expected:
        raise DTypeError(
            f"input {name!r}: expected {spec.get('type')} ({expected}), received {arr.dtype}; "
            f"cast it, e.g. x.astype(np.{expected.name})"
        )
    shape = spec.get("shape")
    if isinstance(shape, Sequence) and not isinstance(shape, str):
        want = [int(s) for s in shape]
        ok = len(want) == arr.ndim and all(
            w < 0 or w == g for w, g in zip(want, arr.shape, strict=False)
        )
        if not ok:
            raise ShapeError(
                f"input {name!r}: expected shape {want} (-1 is any size), received {list(arr.shape)}"
            )
    return arr


def request_from_signature(signature_json: Mapping[str, Any], inputs: Any) -> Request:
    """Build the request a tensor service's signature asks for, checking the inputs.

    ``signature_json`` is the ``GET /api/predict/<service>`` answer (SPEC §1;
    ``"format"`` defaults to "tf"). ``inputs`` is a dict name→array, or a
    single array when the signature has one input (a list for torch).
    Missing or unknown names raise ShapeError, wrong dtypes DTypeError, shapes
    that do not match (``-1`` matches any size) ShapeError.
    """
    fmt = str(signature_json.get("format") or "tf").lower()
    specs = list(signature_json.get("inputs") or [])
    names = [str(s.get("name", i)) for i, s in enumerate(specs)]
    if fmt in ("json", "string"):
        return build_request(fmt, inputs)
    if fmt == "torch" and not isinstance(inputs, Mapping):
        inputs = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
        inputs = {names[i] if i < len(names) else str(i): x for i, x in enumerate(inputs)}
    elif not isinstance(inputs, Mapping):
        if len(specs) != 1:
            raise ShapeError(
                f"the service takes {len(specs)} inputs ({names}); pass a dict of name -> array"
            )
        inputs = {names[0]: inputs}
    given = {str(k): v for k, v in inputs.items()}
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
        return build_request("torch", ordered)
    return build_request(fmt, checked, signature_name=signature_json.get("signature_name"))

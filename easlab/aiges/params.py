"""The request params a wrapper gets: every value a string, as the aiges loader hands them over.

On the platform the params travel as ``map<string, string>`` (aiges_inner.proto
``Request.params``; the C++ loader's ``std::map<std::string, std::string>``),
and the webgate turns each JSON value into that string with Go's
``ConvertToString`` (iflytek/aiges AtheGateway/common/data_util.go): a string
as it is, a bool as ``true``/``false``, a number (a float64 once Go has parsed
the JSON) as ``strconv.FormatFloat(v, 'f', -1, 64)`` — the shortest digits,
never an exponent, no ``.0``. So ``{"times": 2, "ratio": 0.5, "loud": true}``
reaches ``wrapperOnceExec`` as ``{"times": "2", "ratio": "0.5", "loud": "true"}``
and the wrapper converts (``int(params["times"])``, ``params["loud"] == "true"``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any


def float_text(value: float) -> str:
    # Go's FormatFloat(v, 'f', -1, 64): repr's shortest round-trip digits, spelled
    # out without an exponent (1e-07 -> 0.0000001) and without a trailing ".0"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def loader_value(value: Any) -> str:
    """One param value as the loader passes it: ``2`` -> ``"2"``, ``True`` -> ``"true"``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        try:
            return float_text(float(value))  # JSON numbers are float64 in Go
        except OverflowError:
            return str(value)
    # no declared param type admits a list or object (the webgate refuses them
    # before); were one to get here, JSON is the spelling a wrapper can read back
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def loader_params(values: Mapping[str, Any]) -> dict[str, str]:
    """The ``params`` dict ``wrapperOnceExec`` gets; a value of None is left out (absent)."""
    return {str(k): loader_value(v) for k, v in values.items() if v is not None}


def with_headers(
    params: Mapping[str, Any], headers: Mapping[str, Any], names: tuple[str, ...]
) -> dict[str, Any]:
    """``params`` with the passed request headers added, as the loader adds them (aiges
    instance/inst.go ResLoad): each name in ``names`` that is not a param already gets
    the header's value as a string, or ``""`` when the request did not send it."""
    out = dict(params)
    for name in names:
        if name not in out:
            value = headers.get(name)
            out[name] = "" if value is None else loader_value(value)
    return out

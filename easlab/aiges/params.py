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
from collections.abc import Iterator, Mapping, MutableMapping
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


#: what aiges's gRPC plugin's maps say of a key or value that is not a string (protobuf)
_NOT_A_STRING = (
    "aiges's Python plugin (AIGES_PLUGIN_MODE=python) hands {what} over as the protobuf "
    "map<string, string> it received, which takes string {part}s only, got {got}: use "
    "str(...), or copy it first (dict({what}))"
)


class PluginMap(MutableMapping[str, str]):
    """``params`` / ``config`` as aiges's gRPC plugin hands them to a wrapper: the
    protobuf ``map<string, string>`` of its request (aiges serve.py passes
    ``request.params`` and ``request.config`` as they are), not a dict. Where a wrapper
    can tell: reading a key that is not there answers ``""`` (and adds it), where the C++
    loader's dict raises KeyError; ``get``/``in`` do not add; keys and values are strings
    only; it has no ``copy()`` and ``json.dumps`` refuses it (``dict(params)`` takes it)."""

    def __init__(self, values: Mapping[str, str], what: str = "params") -> None:
        self._values = dict(values)
        self._what = what

    def _key(self, key: Any) -> str:
        if not isinstance(key, str):
            raise TypeError(
                _NOT_A_STRING.format(what=self._what, part="key", got=type(key).__name__)
            )
        return key

    def __getitem__(self, key: str) -> str:
        # a protobuf map answers a missing key with the value type's default, "", and keeps it
        return self._values.setdefault(self._key(key), "")

    def __setitem__(self, key: str, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(
                _NOT_A_STRING.format(what=self._what, part="value", got=type(value).__name__)
            )
        self._values[self._key(key)] = value

    def __delitem__(self, key: str) -> None:
        if self._key(key) not in self._values:
            raise KeyError("Key not present in map")
        del self._values[key]

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(self._key(key), default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return repr(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    __hash__ = None  # type: ignore[assignment]  # a map, like dict


def as_loader_passes(values: Mapping[str, str], mode: str, what: str = "params") -> Any:
    """``values`` as aiges's loader of ``mode`` hands them to a hook: the C++ loader's dict
    (pybind11 converts its std::map), the gRPC plugin's protobuf map (``PluginMap``)."""
    return PluginMap(values, what) if mode == "python" else dict(values)

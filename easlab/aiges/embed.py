"""``aiges_embed``: the module aiges's C++ loader (aiges_c_python_wrapper pyWrapper.cpp)
embeds in the interpreter it runs a wrapper in.

Its types are C++ classes bound with pybind11, which behave unlike the SDK's
(easlab/aiges/dto.py) where a wrapper can tell:

* ``ResponseData``'s constructor is positional: ``ResponseData()`` or
  ``ResponseData(key, len, status, type)``, no keywords and no data
  (``py::init<std::string, unsigned int, int, int>``); its ``data`` and ``len``
  are plain fields (``def_readwrite``), so ``l.data = b"..."; l.len = 3`` works
  (the SDK's has no setter), and ``data`` takes bytes only (``py::bytes``).
* ``Response.list`` is a ``std::vector`` converted by pybind11's stl.h: each read
  of ``r.list`` is a new Python list, so ``r.list.append(l)`` changes that copy
  and the Response keeps its list (empty, from ``Response()``); only ``r.list =
  [...]`` sets it. ``Response()`` starts empty (the SDK's holds one blank
  ResponseData), and ``response_err(code)`` returns a new Response.

Plus what only it has: the custom metric and trace callbacks, which the C++
loader prints and hands to aiges's meter and trace log; easlab has neither, so
each is that printed line, in the service log.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from easlab.aiges import dto
from easlab.aiges.dto import (
    DataListCls,
    DataListNode,
    SessionCreateResponse,
    callback,
)

__all__ = [
    "DataListCls",
    "DataListNode",
    "Response",
    "ResponseData",
    "SessionCreateResponse",
    "callback",
    "callback_metric",
    "callback_trace",
]


class ResponseData(dto.ResponseData):
    """The C++ loader's output: ``ResponseData()``, or ``ResponseData(key, len, status,
    type)`` by position; its data is set with ``setData``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs or len(args) not in (0, 4):
            given = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
            raise TypeError(
                f"aiges_embed.ResponseData({given}): the C++ loader's ResponseData takes no "
                "arguments, or (key, len, status, type) by position, never keywords (its "
                "constructor is bound without names); write r = ResponseData(), set r.key "
                "and r.status, then r.setDataType(t) and r.setData(data)"
            )
        super().__init__()
        if args:
            self.key, self.len, self.status, self.type = args

    @property
    def data(self) -> Any:
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        self._data = _bytes("data", value)
        self._from_constructor = False

    @property
    def len(self) -> Any:
        return self._len

    @len.setter
    def len(self, value: Any) -> None:
        self._len = value

    def setData(self, d: Any) -> None:
        super().setData(_bytes("setData", d))


def _bytes(where: str, value: Any) -> bytes:
    """``value`` when it is bytes, which the C++ loader's py::bytes field takes; else the
    TypeError pybind11 raises, saying what to pass."""
    if isinstance(value, bytes):
        return value
    raise TypeError(
        f"aiges_embed.ResponseData.{where} takes bytes (the C++ loader keeps the data as "
        f"Python bytes), got {type(value).__name__}: pass text.encode(), bytes(buffer)"
    )


class Response:
    """The C++ loader's answer: ``r.list = [ResponseData, ...]`` (each read of ``r.list``
    is a new list: appending to it changes nothing), or ``r.response_err(code)``."""

    def __init__(self) -> None:
        self._list: list[Any] = []
        # the lists handed out by reads of r.list since it was last set: one changed
        # afterwards is an output the wrapper meant to give and the loader never sees
        self._copies: list[list[Any]] = []
        self.error_code = 0

    @property
    def list(self) -> list[Any]:
        copy = list(self._list)
        self._copies.append(copy)
        return copy

    @list.setter
    def list(self, value: Any) -> None:
        try:
            items = list(value)
        except TypeError:
            raise TypeError(
                f"aiges_embed.Response.list takes a list of ResponseData, got "
                f"{type(value).__name__}: r.list = [l]"
            ) from None
        for item in items:
            if not isinstance(item, ResponseData):
                raise TypeError(
                    f"aiges_embed.Response.list takes aiges_embed.ResponseData items (the C++ "
                    f"loader converts each to its own type), got {type(item).__module__}."
                    f"{type(item).__name__}: build the outputs with the ResponseData of "
                    "aiges_embed, the module Response came from"
                )
        self._list = items
        self._copies = []

    def response_err(self, error_code: int) -> Response:
        """A new Response failed with ``error_code`` (pyWrapper.cpp's responseErr)."""
        failed = Response()
        failed.error_code = error_code
        return failed

    def toJSON(self) -> str:
        return json.dumps(
            {"list": self._list, "error_code": self.error_code},
            default=dto._plain,
            sort_keys=True,
            indent=4,
        )


def lost_outputs(resp: Any) -> str | None:
    """Why an aiges_embed Response lacks outputs the wrapper gave it: a list read from
    ``r.list`` and changed afterwards (``r.list.append(l)``), which the C++ loader never
    sees. None when nothing was lost (or ``resp`` is not the C++ loader's Response)."""
    if not isinstance(resp, Response):
        return None
    changed = [c for c in resp._copies if c != resp._list]
    if not changed:
        return None
    outcome = (
        "the Response has no outputs and the loader answers error -1"
        if not resp._list
        else "the loader answers without them"
    )
    return (
        "Response.list was changed after it was read (r.list.append(l) or alike): the C++ "
        "loader's aiges_embed Response hands out a new list at each read of r.list "
        f"(pybind11 converts its C++ vector), so {outcome}; build the list and set it: "
        "r.list = [l]"
    )


def callback_metric(usrTag: str, meterKey: str, count: int) -> int:
    """A custom metric: ``count`` more of ``meterKey`` for the request ``usrTag`` (its sid)."""
    print(f"callback Metric: {usrTag}, {meterKey}, {count}", file=sys.stderr, flush=True)
    return 0


def callback_trace(usrTag: str, key: str, value: str) -> int:
    """A trace entry ``key`` = ``value`` for the request ``usrTag`` (its sid)."""
    print(f"callback Trace: {usrTag}, {key}, {value}", file=sys.stderr, flush=True)
    return 0

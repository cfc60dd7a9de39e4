"""``aiges_embed``: the module aiges's C++ loader (aiges_c_python_wrapper pyWrapper.cpp)
embeds in the interpreter it runs a wrapper in.

Its types are the SDK's (easlab/aiges/dto.py) but for ``ResponseData``'s
constructor, which the C++ loader binds positionally: ``ResponseData()`` or
``ResponseData(key, len, status, type)``, no keywords and no data (pybind11,
``py::init<std::string, unsigned int, int, int>``). Plus what only it has: the
custom metric and trace callbacks, which the C++ loader prints and hands to aiges's
meter and trace log; easlab has neither, so each is that printed line, in the
service log.
"""

from __future__ import annotations

import sys
from typing import Any

from easlab.aiges import dto
from easlab.aiges.dto import (
    DataListCls,
    DataListNode,
    Response,
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


def callback_metric(usrTag: str, meterKey: str, count: int) -> int:
    """A custom metric: ``count`` more of ``meterKey`` for the request ``usrTag`` (its sid)."""
    print(f"callback Metric: {usrTag}, {meterKey}, {count}", file=sys.stderr, flush=True)
    return 0


def callback_trace(usrTag: str, key: str, value: str) -> int:
    """A trace entry ``key`` = ``value`` for the request ``usrTag`` (its sid)."""
    print(f"callback Trace: {usrTag}, {key}, {value}", file=sys.stderr, flush=True)
    return 0

"""``aiges_embed``: the module aiges's C++ loader (aiges_c_python_wrapper pyWrapper.cpp)
embeds in the interpreter it runs a wrapper in.

Its types are the SDK's (easlab/aiges/dto.py), plus what only it has: the custom
metric and trace callbacks, which the C++ loader prints and hands to aiges's meter
and trace log. easlab has neither, so each is that printed line, in the service log.
"""

from __future__ import annotations

import sys

from easlab.aiges.dto import (
    DataListCls,
    DataListNode,
    Response,
    ResponseData,
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


def callback_metric(usrTag: str, meterKey: str, count: int) -> int:
    """A custom metric: ``count`` more of ``meterKey`` for the request ``usrTag`` (its sid)."""
    print(f"callback Metric: {usrTag}, {meterKey}, {count}", file=sys.stderr, flush=True)
    return 0


def callback_trace(usrTag: str, key: str, value: str) -> int:
    """A trace entry ``key`` = ``value`` for the request ``usrTag`` (its sid)."""
    print(f"callback Trace: {usrTag}, {key}, {value}", file=sys.stderr, flush=True)
    return 0

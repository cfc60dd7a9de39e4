"""``aiges.sdk``: ``WrapperBase`` and the field classes, as easlab implements them.

A ``wrapper.py`` written for iFlytek's aiges (``class Wrapper(WrapperBase)``
with ``wrapperInit`` / ``wrapperOnceExec`` / ``wrapperError`` and optionally
``wrapperFini``) runs unchanged in the easlab kernel (``"processor": "aiges"``)
and with ``easlab aiges run``. Inside those, ``import aiges.sdk`` resolves here
(easlab/aiges/shim.py); elsewhere the real SDK, if installed, is untouched.
"""

from __future__ import annotations

import base64  # noqa: F401  (star-exported, as by the SDK)
import json  # noqa: F401
import os  # noqa: F401
import queue  # noqa: F401
import sys
import threading  # noqa: F401
import time  # noqa: F401
from typing import Any

from easlab.aiges import types as _types
from easlab.aiges.check import problems
from easlab.aiges.dto import (  # noqa: F401  (aiges.sdk re-exports the dto names)
    DataListCls,
    DataListNode,
    Response,
    ResponseData,
    SessionCreateResponse,
)
from easlab.aiges.fields import (
    AudioBodyField,
    BooleanParamField,
    Field,
    ImageBodyField,
    IntegerParamField,
    JsonBodyField,
    NumberParamField,
    ParamField,
    PayloadField,
    StringBodyField,
    StringParamField,
)
from easlab.aiges.log import log
from easlab.aiges.schema import declared, schema_text
from easlab.aiges.stream import SessionManager, StreamHandleThread, WorkerThread
from easlab.aiges.types import *  # noqa: F403  (as the SDK's sdk module does)


class WrapperBase:
    """Base of an aiges Wrapper: implement ``wrapperInit``, ``wrapperOnceExec`` (and
    ``wrapperError``; ``wrapperFini`` is optional).

    Class attributes: ``requestCls`` / ``responseCls`` (instances of classes whose
    attributes are fields), ``serviceId`` and ``version`` for the schema, and
    ``config`` for a local run's ``wrapperInit``.
    """

    config: dict[str, Any] = {}
    requestCls: Any = None
    responseCls: Any = None

    def __init__(
        self, legacy: bool = True, is_aipaas: bool = True, keep_schema_default_value: bool = True
    ) -> None:
        self.legacy = legacy
        self.is_aipaas = is_aipaas
        self.keep_schema_default_value = keep_schema_default_value
        # the SDK's stream template keeps its session slots here (aiges.stream)
        self.session = SessionManager()

    # -- the hooks a wrapper implements -------------------------------------------------
    def wrapperInit(self, config: dict[str, Any]) -> int:
        raise NotImplementedError("implement wrapperInit(self, config) -> int in your Wrapper")

    def wrapperOnceExec(
        self, params: dict[str, Any], reqData: DataListCls, usrTag: str = "", persId: int = 0
    ) -> Response:
        raise NotImplementedError(
            "implement wrapperOnceExec(self, params, reqData) -> Response in your Wrapper"
        )

    def wrapperFini(self) -> int:
        """Optional: release resources; the default does nothing."""
        return 0

    def wrapperError(self, ret: int) -> str:
        """The message of an error code; the default has none."""
        return ""

    def wrapperLoadRes(self, reqData: DataListCls, resId: int) -> int:
        return 0

    def wrapperUnloadRes(self, resId: int) -> int:
        return 0

    # -- tools ---------------------------------------------------------------------------
    def schema(self) -> str:
        """The webgate schema JSON of this wrapper (as the SDK's ``schema()``)."""
        return schema_text(type(self))

    def check_resp(self, resp: Any) -> bool:
        """True when the SDK's checker would accept ``resp``; logs why not."""
        found = problems(resp, declared(type(self)))
        for problem in found:
            log.error(problem)
        return not found

    def run(self, stream: bool = False) -> None:
        """Run init → exec → fini once with the declared test values and show the answer
        (a session wrapper: init → create → write → read … → destroy → fini; ``stream``
        is taken for the SDK's signature, the wrapper's hooks decide).

        Exits the process non-zero when anything fails (the SDK always exits 0).
        """
        from easlab.aiges.runner import run_wrapper

        code = run_wrapper(self)
        if code:
            sys.exit(code)


#: ``from aiges.sdk import *``: the SDK's module has no ``__all__``, so a star import
#: brings its dto and type names (and the stdlib modules it imports) too, and wrappers
#: written that way use ``ResponseData``, ``DataText`` or ``json`` without importing them
__all__ = [
    "WrapperBase",
    "Field",
    "ParamField",
    "PayloadField",
    "StringParamField",
    "NumberParamField",
    "IntegerParamField",
    "BooleanParamField",
    "StringBodyField",
    "JsonBodyField",
    "AudioBodyField",
    "ImageBodyField",
    "Response",
    "ResponseData",
    "DataListCls",
    "DataListNode",
    "SessionCreateResponse",
    "SessionManager",
    "StreamHandleThread",
    "WorkerThread",
    "log",
    *_types.__all__,
    "base64",
    "json",
    "os",
    "queue",
    "sys",
    "threading",
    "time",
]

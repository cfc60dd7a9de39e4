"""``aiges.dto``: the data a wrapper receives and returns (SPEC §6, aiges).

``ResponseData`` accepts both styles found in the wild: aiges 0.16.0's
``setData()`` / ``setDataType()`` (its ``data`` and ``len`` are read-only
there) and the guide's plain ``l.data = ...; l.len = ...`` assignment. The
data must be bytes either way: the guide's ``l.data = r.text`` (a str) is
refused by the response check (easlab/aiges/check.py), as the SDK refuses it.
"""

from __future__ import annotations

import json
from typing import Any

from easlab.aiges import types as _types
from easlab.aiges.types import (  # noqa: F401  (aiges.dto re-exports the type constants)
    AUDIO,
    IMAGE,
    PROCESS_MODE,
    STRING,
    THREAD_MODE,
    VIDEO,
    DataAudio,
    DataBegin,
    DataContinue,
    DataEnd,
    DataImage,
    DataOnce,
    DataText,
    DataVideo,
    Once,
    Status,
    Types,
)


class DataListNode:
    """One input of a request: ``key``, ``data`` (bytes), ``len``, ``type``, ``status``."""

    def __init__(self) -> None:
        self.key: str = ""
        self.data: Any = ""
        self.status: int = Once
        self.len: int = 0
        self.type: int = DataText


class DataListCls:
    """The request's inputs: ``list`` of ``DataListNode``; ``get(key)`` finds one."""

    def __init__(self) -> None:
        self.list: list[DataListNode] = []

    def get(self, key: str) -> DataListNode | None:
        for node in self.list:
            if node.key == key:
                return node
        return None


class ResponseData:
    """One output: ``key``, ``data`` (bytes), ``len``, ``type``, ``status``."""

    def __init__(
        self,
        key: str = "",
        data: Any = b"",
        length: int = 0,
        type: int = DataText,
        status: int = Once,
    ) -> None:
        self.key = key
        self.type = type
        self.status = status
        self.data = data if data else b""
        self.len = length or (len(self.data) if self.data else 0)

    def setDataType(self, t: int) -> None:
        if t not in (DataText, DataAudio, DataImage, DataVideo):
            raise ValueError(
                f"data type must be 0 (text), 1 (audio), 2 (image) or 3 (video); got {t!r}"
            )
        self.type = t

    def setData(self, d: Any) -> None:
        self.data = d
        self.len = len(d)

    def toJSON(self) -> str:
        return json.dumps(self, default=_plain, sort_keys=True, indent=4)


class Response:
    """What ``wrapperOnceExec`` returns: ``list`` of ``ResponseData``, or an error code."""

    def __init__(self) -> None:
        self.list: list[ResponseData] = [ResponseData()]
        self.error_code = 0

    def response_err(self, error_code: int) -> Response:
        """Mark this response as failed with the wrapper's ``error_code`` (see ``wrapperError``)."""
        self.error_code = error_code
        return self

    def toJSON(self) -> str:
        return json.dumps(self, default=_plain, sort_keys=True, indent=4)


class SessionCreateResponse:
    """Reserved by the SDK for streaming sessions."""

    def __init__(self) -> None:
        self.handle = ""
        self.error_code = 0


def callback(r: Response, sid: str) -> None:
    """Streaming callback of the C++ loader; streaming is not supported locally."""
    raise NotImplementedError("aiges streaming (wrapperCreate/Write) is not supported by easlab")


def _plain(obj: Any) -> Any:
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj).decode("utf-8", "replace")
    return obj.__dict__


#: the SDK's dto has no ``__all__``: ``from aiges.dto import *`` brings the type
#: constants (``DataText``, ``Once`` ...) and ``json`` as well
__all__ = [
    *_types.__all__,
    "json",
    "DataListNode",
    "DataListCls",
    "ResponseData",
    "Response",
    "SessionCreateResponse",
    "callback",
]

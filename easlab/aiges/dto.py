"""``aiges.dto``: the data a wrapper receives and returns (SPEC §6, aiges).

``ResponseData`` is aiges 0.16.0's: its ``data`` and ``len`` are read-only,
set together with ``setData()``. The guide's plain ``l.data = ...; l.len =
...`` assignment raises there, so the SDK's ``run()`` and its Python plugin
fail the request on that line; here it raises too, saying to call
``setData``. (The C++ loader's ``aiges_embed.ResponseData`` takes the
assignment: easlab/aiges/embed.py.) Data set with ``setData`` must be bytes:
a str is refused by the response check (easlab/aiges/check.py), as the SDK
refuses it.
"""

from __future__ import annotations

import json
from typing import Any

from easlab.aiges import types as _types
from easlab.aiges.callbacks import callback as deliver
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

    def get_data(self) -> Any:
        """``data``: the C++ loader's DataListNode (its ``aiges_embed`` module) has this
        getter, which wrappers written for it call; the SDK's has not."""
        return self.data


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
        self._data: Any = data if data else b""
        self._len: Any = length or (len(self._data) if self._data else 0)
        # aiges 0.16.0's constructor drops ``data`` (and ``length``): such an output is
        # empty on the platform. easlab serves it, and remembers that the data came from
        # here (until it is set again) so the kernel and `easlab aiges run` can warn
        self._from_constructor = bool(data)

    @property
    def data(self) -> Any:
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        raise AttributeError(_read_only("data"))

    @property
    def len(self) -> Any:
        return self._len

    @len.setter
    def len(self, value: Any) -> None:
        raise AttributeError(_read_only("len"))

    def setDataType(self, t: int) -> None:
        if t not in (DataText, DataAudio, DataImage, DataVideo):
            raise ValueError(
                f"data type must be 0 (text), 1 (audio), 2 (image) or 3 (video); got {t!r}"
            )
        self.type = t

    def setData(self, d: Any) -> None:
        self._data = d
        self._len = len(d)
        self._from_constructor = False

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
    """What ``wrapperCreate`` returns: the session's ``handle`` (a string), or ``error_code``."""

    def __init__(self) -> None:
        self.handle = ""
        self.error_code = 0


def callback(r: Response, sid: str, *more: Any) -> int:
    """A session's result, for the loader: ``callback(response, sid)`` (easlab/aiges/callbacks.py)."""
    return deliver(r, sid, *more)


def constructor_data(d: Any) -> bool:
    """Whether output ``d`` still holds the data passed to ``ResponseData(key, data)``,
    which aiges 0.16.0's constructor drops (the C++ loader's takes no data at all)."""
    return bool(getattr(d, "_from_constructor", False))


def constructor_data_warning(keys: list[str]) -> str:
    """What to tell a user whose outputs carry constructor data: the platform answers them empty."""
    names = ", ".join(repr(k) for k in keys)
    return (
        f"warning: output {names} got its data from ResponseData(key, data): the real aiges "
        "SDK (0.16.0) drops data passed to the constructor, so on the platform this output "
        "is empty (easlab serves it); set it with r.setData(data) instead"
    )


def _read_only(name: str) -> str:
    """Why ``l.<name> = ...`` fails on aiges.dto's ResponseData, and what to write."""
    return (
        f"ResponseData.{name} cannot be assigned: aiges.dto's ResponseData (aiges 0.16.0) "
        "has no setter for data or len, so the SDK's run() and its Python plugin "
        "(AIGES_PLUGIN_MODE=python) fail here and the answer is lost; call "
        "l.setData(data), which sets both (the C++ loader's aiges_embed.ResponseData "
        "takes the assignment)"
    )


def _plain(obj: Any) -> Any:
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj).decode("utf-8", "replace")
    fields = {k: v for k, v in vars(obj).items() if k != "_from_constructor"}
    for name in ("data", "len"):  # a ResponseData's properties, under their public names
        if f"_{name}" in fields:
            fields[name] = fields.pop(f"_{name}")
    return fields


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

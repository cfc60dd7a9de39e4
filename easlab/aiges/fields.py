"""The field classes a wrapper declares its request and response with (``aiges.sdk``).

Constructors take the arguments of aiges 0.16.0's fields. Request fields are
the class attributes of ``requestCls``: ``*ParamField`` become the service's
``parameter``, ``*BodyField`` its ``payload`` inputs; ``responseCls``'s body
fields are the outputs it may answer (``accept``).
"""

from __future__ import annotations

import base64
import os
from typing import Any

from easlab.aiges.types import AUDIO, IMAGE, STRING, VIDEO

#: data type -> the webgate name, used in the schema and as the payload's data key
TYPE_NAMES = {STRING: "text", AUDIO: "audio", IMAGE: "image", VIDEO: "video"}


class Field:
    """Base of every field: ``key`` (its name on the wire) and ``data_type``."""

    def __init__(self, key: str, data_type: Any) -> None:
        self.key = key
        self.data_type = data_type
        self.description = ""
        self.title = ""

    def __repr__(self) -> str:
        return f"<{type(self).__name__}:{self.key}>"

    @property
    def test_value(self) -> Any:
        """The value a local run sends for this field."""
        raise NotImplementedError


class ParamField(Field):
    """A control parameter (``parameter.<serviceId>.<key>``)."""

    required: bool = False
    enums: list[Any] = []

    def _schema(self) -> dict[str, Any]:
        raise NotImplementedError


class PayloadField(Field):
    """A data input or output (``payload.<key>``)."""

    encoding: str = ""
    status: int = 3

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.data_type, "text")


class _RangeParam(ParamField):
    def __init__(
        self,
        key: str,
        data_type: str,
        minimum: Any,
        maximum: Any,
        enums: list[Any] | None,
        required: bool,
        value: Any,
    ) -> None:
        super().__init__(key, data_type)
        self.minimum = minimum
        self.maximum = maximum
        self.enums = list(enums or [])
        self.required = required
        self.value = value

    def _schema(self) -> dict[str, Any]:
        # the webgate document lists the enum, or only the maximum (as the SDK does)
        if self.enums:
            return {self.key: {"type": self.data_type, "enum": self.enums}}
        return {self.key: {"type": self.data_type, "maximum": self.maximum}}

    @property
    def test_value(self) -> Any:
        return self.value


class StringParamField(ParamField):
    """A string parameter: ``enums`` or a length range; ``value`` is the local test value."""

    def __init__(
        self,
        key: str,
        minLength: int = 0,
        maxLength: int = 1024,
        enums: list[Any] | None = None,
        required: bool = False,
        value: str = "",
        description: str = "",
        title: str = "",
    ) -> None:
        super().__init__(key, "string")
        self.min_length = minLength
        self.max_length = maxLength
        self.enums = list(enums or [])
        self.required = required
        self.value = value
        self.description = description
        self.title = title

    def _schema(self) -> dict[str, Any]:
        if self.enums:
            return {self.key: {"type": "string", "enum": self.enums}}
        return {self.key: {"type": "string", "maxLength": self.max_length}}

    @property
    def test_value(self) -> Any:
        return self.value


class NumberParamField(_RangeParam):
    """A number parameter: ``enums`` or ``minimum``..``maximum``."""

    def __init__(
        self,
        key: str,
        minimum: Any = 0,
        maximum: Any = 100,
        enums: list[Any] | None = None,
        required: bool = False,
        value: Any = 0,
    ) -> None:
        super().__init__(key, "number", minimum, maximum, enums, required, value)


class IntegerParamField(_RangeParam):
    """An integer parameter: ``enums`` or ``minimum``..``maximum``."""

    def __init__(
        self,
        key: str,
        minimum: int = 0,
        maximum: int = 100,
        enums: list[Any] | None = None,
        required: bool = False,
        value: int = 0,
    ) -> None:
        super().__init__(key, "integer", minimum, maximum, enums, required, value)


class BooleanParamField(ParamField):
    """A boolean parameter; ``default`` is also the local test value."""

    def __init__(
        self, key: str, title: str = "", default: bool = False, required: bool = False
    ) -> None:
        super().__init__(key, "boolean")
        self.title = title
        self.default = default
        self.required = required

    def _schema(self) -> dict[str, Any]:
        return {self.key: {"type": "boolean", "default": self.default}}

    @property
    def test_value(self) -> Any:
        return self.default


class StringBodyField(PayloadField):
    """A text input/output; ``value`` (bytes) is the local test value."""

    def __init__(
        self,
        key: str,
        value: bytes = b" ",
        need_base64: bool = False,
        encoding: str = "utf8",
        format: str = "plain",
        compress: str = "raw",
        status: int = 3,
    ) -> None:
        super().__init__(key, STRING)
        if not isinstance(value, bytes):
            # the SDK refuses str here too; say how to fix it
            raise TypeError(
                f"StringBodyField {key!r}: value must be bytes, got {type(value).__name__} "
                f"(write value=b'...' or value='...'.encode())"
            )
        self.value = value
        self.need_base64 = need_base64
        self.encoding = encoding
        self.format = format
        self.compress = compress
        self.status = status

    @property
    def test_value(self) -> Any:
        return base64.b64encode(self.value) if self.need_base64 else self.value


class JsonBodyField(PayloadField):
    """A JSON text input (a text payload on the wire)."""

    def __init__(self, key: str, value: Any = "", need_base64: bool = False) -> None:
        super().__init__(key, STRING)
        self.value = value
        self.need_base64 = need_base64
        self.encoding = "utf8"

    @property
    def test_value(self) -> Any:
        return base64.b64encode(self.value) if self.need_base64 else self.value


class _FileBody(PayloadField):
    path: str = ""
    need_base64 = False

    def _read(self) -> bytes | None:
        if not self.path or not os.path.exists(self.path):
            return None
        with open(self.path, "rb") as f:
            content = f.read()
        return base64.b64encode(content) if self.need_base64 else content


class AudioBodyField(_FileBody):
    """An audio input/output; ``path`` is the local test file."""

    def __init__(
        self,
        key: str,
        path: str = "",
        encoding: str = "raw",
        format: str = "plain",
        compress: str = "raw",
        status: int = 3,
    ) -> None:
        super().__init__(key, AUDIO)
        self.path = path
        self.encoding = encoding
        self.format = format
        self.compress = compress
        self.status = status

    @property
    def test_value(self) -> Any:
        content = self._read()
        return b"" if content is None else content


class ImageBodyField(_FileBody):
    """An image input/output; ``path`` is the local test file."""

    def __init__(
        self,
        key: str,
        path: str = "",
        need_base64: bool = False,
        encoding: str = "jpg",
        status: int = 3,
    ) -> None:
        super().__init__(key, IMAGE)
        self.path = path
        self.need_base64 = need_base64
        self.encoding = encoding
        self.status = status

    @property
    def test_value(self) -> Any:
        content = self._read()
        # the SDK's placeholder when the test image is missing
        return b"<your image base64 here>" if content is None else content


__all__ = [
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
]

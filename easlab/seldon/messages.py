"""Seldon's protobuf messages (prediction.proto) as component code reads them, over JSON.

seldon-core parses a ``/send-feedback`` body into a ``Feedback`` proto before any hook
sees it (SPEC §6), so numbers take the field's proto type (``reward`` is a 32-bit
float, ``Tensor.shape`` int32, ``ndarray`` and ``jsonData`` doubles) and the hook reads
``feedback.reward`` or ``feedback.request.data.names``, with proto defaults (``0.0``,
``""``, an empty message) for fields that were not sent. :func:`as_proto` gives a JSON
dict those types; :class:`Feedback` and :class:`SeldonMessage` wrap it with that
attribute access while staying dicts (``feedback["reward"]`` keeps working).

Only the message fields are modelled, not protobuf itself: ``json_format.MessageToDict``,
``SerializeToString`` and friends need the generated module, which easlab does not ship.
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar

import numpy as np

# -- JSON numbers as protobuf keeps them ---------------------------------------------


def floats(value: Any) -> Any:
    """A ``google.protobuf.Value``/``ListValue`` round trip: every number becomes a float."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return [floats(v) for v in value]
    if isinstance(value, dict):
        return {k: floats(v) for k, v in value.items()}
    return value


def _float32(value: Any) -> Any:
    # a proto ``float`` field (Feedback.reward, Metric.value) holds 32 bits
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(np.float32(value))
    return value


def _int(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == int(value):
        return int(value)
    return value


def _int32(value: Any) -> Any:
    # a proto int32 read from JSON: a number, or the number as text ("3")
    if isinstance(value, str) and _int32_error(value, "") is None:
        return int(value)
    return _int(value)


def as_int32(value: Any) -> int | None:
    """``value`` as the int32 protobuf reads it from JSON (3, 3.0 or "3"), or None."""
    return int(value) if value is not None and _int32_error(value, "") is None else None


def _int32_error(value: Any, at: str) -> str | None:
    """What protobuf's json_format (3.20) says of ``value`` for an int32 field at ``at``,
    or None when it is one: a whole number (a float too, or as text without spaces)
    within 32 bits."""
    if isinstance(value, float) and not value.is_integer():
        return f"Couldn't parse integer: {value} at {at}"
    if isinstance(value, str) and " " in value:
        return f'Couldn\'t parse integer: "{value}" at {at}'
    if isinstance(value, bool):
        return f"Bool value {value} is not acceptable for integer field at {at}"
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        return str(exc)
    if not -(2**31) <= number < 2**31:
        return f"Value out of range: {number}"
    return None


def _each(convert: Any) -> Any:
    return lambda value: [convert(v) for v in value] if isinstance(value, list) else value


def _values(convert: Any) -> Any:
    return lambda value: (
        {k: convert(v) for k, v in value.items()} if isinstance(value, dict) else value
    )


def _keep(value: Any) -> Any:
    return value


# -- the messages ----------------------------------------------------------------------


class _Message(dict):  # type: ignore[type-arg]
    """A message as its JSON dict, with the proto's attribute access and defaults.

    ``FIELDS`` maps each field to its default (a scalar or an empty container) or to
    the message class of a sub-message; ``ONEOFS`` names the ``oneof`` groups.
    """

    FIELDS: ClassVar[dict[str, Any]] = {}
    REPEATED: ClassVar[dict[str, type[_Message]]] = {}
    ONEOFS: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: the map<string, int32> fields
    INT32_MAPS: ClassVar[tuple[str, ...]] = ()
    # field -> what as_proto does to its JSON value (messages recurse on their own)
    CONVERT: ClassVar[dict[str, Any]] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        fields = type(self).FIELDS
        if name in type(self).REPEATED:
            kind = type(self).REPEATED[name]
            return [kind(v) if isinstance(v, dict) else v for v in self.get(name) or []]
        if name not in fields:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}")
        default = fields[name]
        value = self.get(name)
        if isinstance(default, type) and issubclass(default, _Message):
            if not isinstance(value, dict):
                # an empty message, stored here only once something is written into it
                # (reading a proto's unset sub-message does not set it; writing does)
                empty = default()
                object.__setattr__(empty, "_parent", (self, name))
                return empty
            if not isinstance(value, default):
                value = default(value)
                self[name] = value  # so that changes made through the attribute stay
            return value
        if value is None:
            return type(default)() if isinstance(default, (list, dict)) else default
        if name == "binData" and isinstance(value, str):
            return base64.b64decode(value)  # bytes in the proto, base64 in JSON
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if name in type(self).FIELDS or name in type(self).REPEATED:
            self[name] = value
        else:
            super().__setattr__(name, value)

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        parent = self.__dict__.pop("_parent", None)
        if parent is not None:
            owner, name = parent
            owner[name] = self

    def WhichOneof(self, group: str) -> str | None:  # noqa: N802  (protobuf's name)
        """The field of ``group`` that is set, or None (``message.WhichOneof("data_oneof")``)."""
        if group not in type(self).ONEOFS:
            raise ValueError(f"{type(self).__name__} has no oneof {group!r}")
        return next((f for f in type(self).ONEOFS[group] if self.get(f) is not None), None)

    def HasField(self, name: str) -> bool:  # noqa: N802  (protobuf's name)
        """Whether the sub-message or oneof member ``name`` was sent."""
        if name not in type(self).FIELDS:
            raise ValueError(f"{type(self).__name__} has no field {name!r}")
        return self.get(name) is not None


class Status(_Message):
    FIELDS: ClassVar[dict[str, Any]] = {"code": 0, "info": "", "reason": "", "status": 0}
    CONVERT: ClassVar[dict[str, Any]] = {"code": _int}


class Metric(_Message):
    FIELDS: ClassVar[dict[str, Any]] = {"key": "", "type": "COUNTER", "value": 0.0, "tags": {}}
    CONVERT: ClassVar[dict[str, Any]] = {"value": _float32}


class Meta(_Message):
    FIELDS: ClassVar[dict[str, Any]] = {"puid": "", "tags": {}, "routing": {}, "requestPath": {}}
    REPEATED: ClassVar[dict[str, type[_Message]]] = {"metrics": Metric}
    INT32_MAPS: ClassVar[tuple[str, ...]] = ("routing",)
    CONVERT: ClassVar[dict[str, Any]] = {"tags": floats, "routing": _values(_int32)}


class Tensor(_Message):
    FIELDS: ClassVar[dict[str, Any]] = {"shape": [], "values": []}
    CONVERT: ClassVar[dict[str, Any]] = {"shape": _each(_int), "values": floats}

    @property
    def values(self) -> Any:  # type: ignore[override]  # the proto field wins over dict.values
        return self.get("values") or []


class DefaultData(_Message):
    FIELDS: ClassVar[dict[str, Any]] = {
        "names": [],
        "tensor": Tensor,
        "ndarray": [],
        "tftensor": None,
    }
    ONEOFS: ClassVar[dict[str, tuple[str, ...]]] = {"data_oneof": ("tensor", "ndarray", "tftensor")}
    CONVERT: ClassVar[dict[str, Any]] = {"ndarray": floats, "tftensor": _keep}


class SeldonMessage(_Message):
    FIELDS: ClassVar[dict[str, Any]] = {
        "status": Status,
        "meta": Meta,
        "data": DefaultData,
        "binData": b"",
        "strData": "",
        "jsonData": None,
        "customData": None,
    }
    ONEOFS: ClassVar[dict[str, tuple[str, ...]]] = {
        "data_oneof": ("data", "binData", "strData", "jsonData", "customData")
    }
    CONVERT: ClassVar[dict[str, Any]] = {"jsonData": floats}


class SeldonMessageList(_Message):
    REPEATED: ClassVar[dict[str, type[_Message]]] = {"seldonMessages": SeldonMessage}


class Feedback(_Message):
    FIELDS: ClassVar[dict[str, Any]] = {
        "request": SeldonMessage,
        "response": SeldonMessage,
        "reward": 0.0,
        "truth": SeldonMessage,
    }
    CONVERT: ClassVar[dict[str, Any]] = {"reward": _float32}


def as_proto(kind: type[_Message], value: Any) -> Any:
    """``value`` (a JSON dict of message ``kind``) with each field's proto number type,
    as a ``kind`` message; unknown fields and non-dicts are left as they are."""
    if not isinstance(value, dict):
        return value
    out = kind()
    for name, field in value.items():
        default = kind.FIELDS.get(name)
        if isinstance(default, type) and issubclass(default, _Message):
            out[name] = as_proto(default, field)
        elif name in kind.REPEATED and isinstance(field, list):
            out[name] = [as_proto(kind.REPEATED[name], v) for v in field]
        else:
            out[name] = kind.CONVERT.get(name, _keep)(field)
    return out


def parse_error(kind: type[_Message], value: Any, path: str = "") -> str | None:
    """What protobuf's ``json_format.ParseDict`` says of ``value`` as a ``kind`` message, or
    None when it parses. seldon-core parses a ``/send-feedback`` body so and answers 400
    ``"Invalid JSON: " + this``: a field the message does not have (a typo such as
    ``"rewards"``), a ``float`` field given text that is no number or a map<string, int32>
    (``meta.routing``) with a value that is no int32. Other checks of
    ParseDict's are left to the hooks."""
    if not isinstance(value, dict):
        return None
    path = path or kind.__name__
    fields = [*kind.FIELDS, *kind.REPEATED]
    for name, field in value.items():
        if name not in fields:
            return (
                f'Message type "seldon.protos.{kind.__name__}" has no field named "{name}" '
                f'at "{path}".\n Available Fields(except extensions): "{fields}"'
            )
        default = kind.FIELDS.get(name)
        inner: str | None = None
        if isinstance(default, type) and issubclass(default, _Message):
            inner = parse_error(default, field, f"{path}.{name}")
        elif name in kind.REPEATED and isinstance(field, list):
            inner = next(
                (
                    error
                    for i, item in enumerate(field)
                    if (error := parse_error(kind.REPEATED[name], item, f"{path}.{name}[{i}]"))
                ),
                None,
            )
        elif name in kind.INT32_MAPS:
            at = f"{path}.{name}"
            if not isinstance(field, dict):
                inner = f"Map field {name} must be in a dict which is {field} at {at}"
            else:
                inner = next(
                    (
                        error
                        for key, item in field.items()
                        if (error := _int32_error(item, f"{at}[{key}]"))
                    ),
                    None,
                )
        elif kind.CONVERT.get(name) is _float32 and isinstance(field, str):
            if field == "nan":
                inner = f'Couldn\'t parse float "nan", use "NaN" instead at {path}.{name}'
            else:
                try:
                    float(field)
                except ValueError:
                    inner = f"Couldn't parse float: {field} at {path}.{name}"
        if inner is not None:
            # protobuf names the field it was parsing, unless the field is in a oneof
            if any(name in group for group in kind.ONEOFS.values()):
                return inner
            return f"Failed to parse {name} field: {inner}."
    return None


__all__ = [
    "DefaultData",
    "Feedback",
    "Meta",
    "Metric",
    "SeldonMessage",
    "SeldonMessageList",
    "Status",
    "Tensor",
    "as_int32",
    "as_proto",
    "floats",
    "parse_error",
]

"""A wrapper's declared fields and the webgate schema document they make.

``schema_document`` builds the same document as aiges 0.16.0's ``schema()``
(the "legacy" template: ``meta``, ``schemainput`` with header / parameter /
payload, ``schemaoutput``); tests compare the two side by side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from easlab.aiges.fields import ParamField, PayloadField
from easlab.aiges.types import AUDIO, IMAGE, STRING

_STATUSES = {"type": "integer", "enum": [0, 1, 2, 3]}


@dataclass(frozen=True)
class Declared:
    """What a Wrapper class declares: params, payload inputs and accepted outputs, in order."""

    params: tuple[ParamField, ...]
    inputs: tuple[PayloadField, ...]
    accepts: tuple[PayloadField, ...]

    def param(self, key: str) -> ParamField | None:
        return next((p for p in self.params if p.key == key), None)

    def input(self, key: str) -> PayloadField | None:
        return next((p for p in self.inputs if p.key == key), None)

    def accept(self, key: str) -> PayloadField | None:
        return next((p for p in self.accepts if p.key == key), None)


def _attrs(holder: Any) -> dict[str, Any]:
    # the guide binds instances (requestCls = UserRequest()); a bare class works too
    if holder is None:
        return {}
    cls = holder if isinstance(holder, type) else type(holder)
    return dict(vars(cls))


def declared(wrapper_cls: type) -> Declared:
    """The fields of ``requestCls`` / ``responseCls`` on a Wrapper class."""
    request = _attrs(getattr(wrapper_cls, "requestCls", None))
    response = _attrs(getattr(wrapper_cls, "responseCls", None))
    return Declared(
        params=tuple(v for v in request.values() if isinstance(v, ParamField)),
        inputs=tuple(v for v in request.values() if isinstance(v, PayloadField)),
        accepts=tuple(v for v in response.values() if isinstance(v, PayloadField)),
    )


def _text_payload() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "encoding": {"type": "string", "enum": ["utf8", "gb2312"]},
            "compress": {"type": "string", "enum": ["gzip"]},
            "status": dict(_STATUSES),
            "seq": {"type": "integer"},
            "text": {"type": "string"},
        },
    }


def _image_payload() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "encoding": {"type": "string", "enum": ["jpg", "png", "bmp", "jpeg"]},
            "image": {"type": "string", "minLength": 1, "maxLength": 10485760},
            "status": {"type": "integer", "enum": [3]},
        },
    }


def _audio_payload() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "encoding": {"type": "string", "enum": ["opus", "speex"]},
            "sample_rate": {"type": "integer", "enum": [8000, 16000]},
            "bit_depth": {"type": "integer", "enum": [8, 16]},
            "channels": {"type": "integer", "enum": [1, 2]},
            "status": dict(_STATUSES),
            "seq": {"type": "integer"},
            "audio": {"type": "string"},
        },
    }


#: data type -> (dataType name, payload schema); video has none (as in the SDK)
_PAYLOADS = {
    STRING: ("text", _text_payload),
    AUDIO: ("audio", _audio_payload),
    IMAGE: ("image", _image_payload),
}


#: the header keys the document declares (the SDK's template), each a string of at most 50
HEADER_KEYS: tuple[str, ...] = ("appid", "uid", "device_id", "device.imei", "device.imsi")
HEADER_KEYS += ("device.mac", "device.other", "net.type", "net.isp", "app.ver")


def header_schema() -> dict[str, Any]:
    """The schema of a request's ``header``, as every wrapper's document has it."""
    return {
        "type": "object",
        "properties": {k: {"type": "string", "maxLength": 50} for k in HEADER_KEYS},
        "required": ["appid"],
    }


def payload_schema(field: PayloadField) -> dict[str, Any] | None:
    """The JSON schema of one payload entry, or None for a type the webgate has none for."""
    found = _PAYLOADS.get(field.data_type)
    return found[1]() if found else None


def _fields(fields: tuple[PayloadField, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    types: dict[str, Any] = {}
    payloads: dict[str, Any] = {}
    for field in fields:
        found = _PAYLOADS.get(field.data_type)
        if found is None:
            continue
        types[field.key] = {"dataType": found[0]}
        payloads[field.key] = found[1]()
    return types, payloads


class SchemaIncomplete(ValueError, AttributeError):
    """The Wrapper lacks what its schema needs (``serviceId``, ``version``): a usage mistake,
    told in one line (a ValueError, as easlab's CLI reports them; an AttributeError, as the
    missing attribute is)."""


def _meta_value(wrapper_cls: type, name: str) -> Any:
    value = getattr(wrapper_cls, name, None)
    if value is None:
        raise SchemaIncomplete(
            f"{wrapper_cls.__name__} has no {name!r}: the schema needs `serviceId` and "
            f"`version` as class attributes, e.g. serviceId = 'mysvc'; version = 'v1'"
        )
    return value


def schema_document(wrapper_cls: type) -> dict[str, Any]:
    """The webgate schema of a Wrapper class (what the SDK's ``schema()`` returns, parsed)."""
    fields = declared(wrapper_cls)
    if not fields.inputs:
        raise ValueError(
            f"{wrapper_cls.__name__} declares no input: give requestCls at least one "
            "StringBodyField / ImageBodyField / AudioBodyField"
        )
    if not fields.accepts:
        raise ValueError(
            f"{wrapper_cls.__name__} declares no output: give responseCls at least one body field"
        )
    service_id = str(_meta_value(wrapper_cls, "serviceId"))
    version = str(_meta_value(wrapper_cls, "version"))
    call_type = getattr(wrapper_cls, "call_type", "0")
    try:
        # the SDK's template writes call_type unquoted: "0" becomes 0
        call_type_value = json.loads(str(call_type))
    except ValueError:
        raise ValueError(f"call_type must be a number (e.g. 0), got {call_type!r}") from None
    inputs_fields, _ = _fields(fields.inputs)
    inputs_payload: dict[str, Any] = {}
    for field in fields.inputs:
        if field.data_type in _PAYLOADS:
            # a text input is described with the text *output* schema, as in the SDK
            inputs_payload[field.key] = (
                _text_payload() if field.data_type == STRING else payload_schema(field)
            )
    accepts_fields, accepts_payload = _fields(fields.accepts)
    params: dict[str, Any] = {}
    required: list[str] = []
    for param in fields.params:
        if param.required:
            required.append(param.key)
        params.update(param._schema())
    return {
        "meta": {
            "serviceId": service_id,
            "version": version,
            "route": str(getattr(wrapper_cls, "route", None) or f"/{version}/private/{service_id}"),
            "sub": str(getattr(wrapper_cls, "sub", "ase")),
            "call": str(getattr(wrapper_cls, "call", "atmos")),
            "call_type": call_type_value,
            "hosts": "api.xf-yun.com",
            "service": [service_id],
            "routeKey": [],
            service_id: {"input": inputs_fields, "accept": accepts_fields},
        },
        "schemainput": {
            "type": "object",
            "properties": {
                "header": header_schema(),
                "parameter": {
                    "type": "object",
                    "properties": {
                        service_id: {"type": "object", "properties": params, "required": required}
                    },
                },
                "payload": {"type": "object", "properties": inputs_payload},
            },
        },
        "schemaoutput": {
            "type": "object",
            "properties": {"payload": {"type": "object", "properties": accepts_payload}},
        },
    }


def schema_text(wrapper_cls: type) -> str:
    """``schema_document`` as the SDK prints it (4-space indent, non-ASCII kept)."""
    return json.dumps(schema_document(wrapper_cls), indent=4, ensure_ascii=False)

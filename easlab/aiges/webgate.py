"""The webgate JSON an aiges service speaks over HTTP, checked against the declared fields.

Request (``POST /api/predict/<name>``)::

    {"header": {"appid": ..., ...},
     "parameter": {"<serviceId>": {"<param>": value, ...}},
     "payload": {"<input key>": {"encoding": ..., "status": 3, "<text|image|audio>": base64}}}

Answer: ``{"header": {"code": 0, "message": "success", "sid": ...},
"payload": {"<output key>": {"encoding", "status", "<text|image|audio>": base64}}}``.
Every payload value (text too) is base64, as on iFlytek's webgate; line breaks
in it are skipped. A request is checked against what the wrapper's schema
document (schema.py) declares, as the webgate checks it: the types, enums and
lengths of header, parameter and payload values, the body as JSON (no NaN), so
a request the platform refuses with 400 never reaches the wrapper here either.
Pure functions, no server.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from typing import Any

from easlab.aiges.dto import DataListCls, DataListNode
from easlab.aiges.fields import (
    TYPE_NAMES,
    BooleanParamField,
    IntegerParamField,
    NumberParamField,
    ParamField,
    PayloadField,
    StringParamField,
)
from easlab.aiges.schema import Declared, header_schema, payload_schema
from easlab.aiges.types import Once

#: header.code of a request refused before the wrapper ran (webgate's "invalid parameter")
INVALID_CODE = 10163
#: header.code when the wrapper raised or answered something the platform cannot send
WRAPPER_FAILED = 10010


class RequestInvalid(Exception):
    """A request that does not match the declared fields; ``field`` is its dotted path,
    ``sid`` the one its answer carries (set by parse_request: the request's own, else new)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.sid = ""


@dataclass(frozen=True)
class WebgateRequest:
    """A checked request: its sid, the headers the loader gets, the params and reqData."""

    sid: str
    headers: dict[str, Any]
    params: dict[str, Any]
    req: DataListCls


def _allowed(names: Any) -> str:
    return ", ".join(repr(n) for n in names) or "none"


def _check_param(field: ParamField, value: Any, where: str) -> Any:
    # What the webgate checks is the schema document (schema.py), and the SDK's document
    # carries a param's maximum and maxLength but not its minimum or minLength: a value
    # below a declared minimum reaches the wrapper on the platform, so it does here.
    if isinstance(field, BooleanParamField):
        if not isinstance(value, bool):
            raise RequestInvalid(where, f"must be true or false, got {value!r}")
        return value
    if isinstance(field, StringParamField):
        if not isinstance(value, str):
            raise RequestInvalid(where, f"must be a string, got {type(value).__name__} {value!r}")
        if field.enums:
            if value not in field.enums:
                raise RequestInvalid(
                    where, f"{value!r} is not allowed; use one of {_allowed(field.enums)}"
                )
        elif len(value) > field.max_length:
            raise RequestInvalid(
                where, f"is {len(value)} characters long; at most {field.max_length} are allowed"
            )
        return value
    if isinstance(field, (NumberParamField, IntegerParamField)):
        is_int = isinstance(field, IntegerParamField)
        ok = isinstance(value, (int, float)) and (not is_int or isinstance(value, int))
        ok = ok or (is_int and _integral(value))  # 2.0: an integer to the schema, "2" to it
        if isinstance(value, bool) or not ok:
            kind = "an integer" if is_int else "a number"
            raise RequestInvalid(where, f"must be {kind}, got {type(value).__name__} {value!r}")
        if field.enums:
            if value not in field.enums:
                raise RequestInvalid(
                    where, f"{value!r} is not allowed; use one of {_allowed(field.enums)}"
                )
        elif value > field.maximum:
            raise RequestInvalid(where, f"{value!r} is above the maximum; at most {field.maximum}")
        return value
    return value


#: JSON schema type -> the Python types json.loads gives for it (bool is no number there)
_SCHEMA_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
}


def _integral(value: Any) -> bool:
    return isinstance(value, float) and value.is_integer()


def _check_declared(prop: dict[str, Any], value: Any, where: str) -> None:
    """``value`` against one property of the schema document (schema.py): its type, enum,
    minLength and maxLength, as the webgate checks the request against the document."""
    kind = prop.get("type")
    types = _SCHEMA_TYPES.get(kind) if isinstance(kind, str) else None
    if types is not None:
        is_bool = isinstance(value, bool)
        if kind == "integer" and _integral(value):
            pass  # 3.0 is an integer to a JSON schema (and a float64 to the webgate)
        elif not isinstance(value, types) or (is_bool and kind != "boolean"):
            shown = "an integer" if kind == "integer" else f"a {kind}"
            if kind == "object":
                shown = "an object"
            raise RequestInvalid(where, f"must be {shown}, got {type(value).__name__} {value!r}")
    enum = prop.get("enum")
    if enum and value not in enum:
        raise RequestInvalid(where, f"{value!r} is not allowed; use one of {_allowed(enum)}")
    if isinstance(value, str):
        least, most = prop.get("minLength"), prop.get("maxLength")
        if isinstance(least, int) and len(value) < least:
            size = f"is {len(value)} characters long" if value else "is empty"
            raise RequestInvalid(where, f"{size}; at least {least} characters are needed")
        if isinstance(most, int) and len(value) > most:
            raise RequestInvalid(
                where, f"is {len(value)} characters long; at most {most} are allowed"
            )


def _default(field: ParamField) -> Any:
    return field.default if isinstance(field, BooleanParamField) else getattr(field, "value", None)


def _example(field: ParamField) -> Any:
    """A value the field takes, for a message: its first enum, else its declared value."""
    enums = getattr(field, "enums", None)
    if enums:
        return enums[0]
    value = _default(field)
    if isinstance(field, BooleanParamField):
        return bool(value)
    if isinstance(field, StringParamField):
        return value if isinstance(value, str) else ""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def parse_params(parameter: Any, fields: Declared, service_id: str) -> dict[str, Any]:
    """``parameter.<serviceId>`` checked; declared optional params that are absent get their
    declared value (so ``params['mode']`` works as in a local run). The values stay typed
    (JSON's) for the checks; the wrapper gets them as strings (easlab/aiges/params.py)."""
    if parameter is None:
        parameter = {}
    if not isinstance(parameter, dict):
        raise RequestInvalid("parameter", f"must be an object {{{service_id!r}: {{...}}}}")
    extra = [k for k in parameter if k != service_id]
    if extra:
        raise RequestInvalid(
            f"parameter.{extra[0]}", f"undeclared key; the parameters go under {service_id!r}"
        )
    given = parameter.get(service_id)
    if given is None:
        given = {}
    if not isinstance(given, dict):  # [], "", 0 or false are no object of parameters either
        raise RequestInvalid(f"parameter.{service_id}", "must be an object of parameters")
    params: dict[str, Any] = {}
    for key, value in given.items():
        field = fields.param(key)
        if field is None:
            raise RequestInvalid(
                f"parameter.{service_id}.{key}",
                f"undeclared parameter; declared: {_allowed(p.key for p in fields.params)}",
            )
        params[key] = _check_param(field, value, f"parameter.{service_id}.{key}")
    for field in fields.params:
        if field.key in params:
            continue
        if field.required:
            example = json.dumps({field.key: _example(field)}, ensure_ascii=False)
            raise RequestInvalid(
                f"parameter.{service_id}.{field.key}",
                f'required parameter is missing; send it: "parameter": {{"{service_id}": '
                f"{example}}}",
            )
        params[field.key] = _default(field)
    return params


def _decode_data(field: PayloadField, value: Any, where: str) -> bytes:
    """The bytes a payload value carries: base64 whatever the input's dataType.

    SPEC does not say how a webgate value is encoded; this follows the SDK and
    the webgate: the schema names the data key by dataType (text, audio, image,
    video), and every such value is base64 (the SDK's client encodes text files
    as it encodes images, its ws/sample.json sends ``"encoding": "utf8"`` text
    as base64, and easlab's answers do the same). ``encoding`` says what the
    decoded bytes are (utf8 text, png ...), never whether they are base64, so
    the content is not guessed at: plain words are refused, not passed on.
    Line breaks are skipped as Go's base64 decoder on the webgate skips them
    (``base64.encodebytes`` / MIME wrapping).
    """
    kind = TYPE_NAMES.get(field.data_type, "text")
    source = "text.encode()" if kind == "text" else "data"
    example = f"base64.b64encode({source}).decode()"
    if not isinstance(value, str):
        raise RequestInvalid(
            where, f"must be a base64 string, got {type(value).__name__}: send {example}"
        )
    try:
        return base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        raise RequestInvalid(
            where,
            f"is not valid base64: the webgate carries every {kind} value base64-encoded; "
            f"send {example}",
        ) from None


def parse_payload(payload: Any, fields: Declared) -> DataListCls:
    """``payload`` checked and decoded: one DataListNode per declared input sent, in declared
    order. An input left out is left out of ``reqData`` (``reqData.get(key)`` is None), as
    on the platform: the SDK's schema document has no ``required`` list for the payload,
    so the webgate passes such a request on (the wrapper decides what it needs)."""
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise RequestInvalid(
            "payload", f"must be an object with {_allowed(f.key for f in fields.inputs)}"
        )
    for key in payload:
        if fields.input(key) is None:
            raise RequestInvalid(
                f"payload.{key}",
                f"undeclared input; declared: {_allowed(f.key for f in fields.inputs)}",
            )
    nodes: list[DataListNode] = []
    for field in fields.inputs:
        entry = payload.get(field.key)
        data_key = TYPE_NAMES.get(field.data_type, "text")
        where = f"payload.{field.key}"
        if entry is None and field.key not in payload:
            continue
        if not isinstance(entry, dict):
            raise RequestInvalid(
                where, f"must be an object with {data_key!r}, 'encoding', 'status'"
            )
        schema = payload_schema(field) or {"properties": {}}
        props = schema["properties"]
        for key, value in entry.items():
            prop = props.get(key)
            if prop is None and key != data_key:
                allowed = _allowed(dict.fromkeys([data_key, *props]))
                raise RequestInvalid(f"{where}.{key}", f"undeclared key; allowed: {allowed}")
            if key == data_key:
                continue  # checked as base64 below, its length after that
            prop = dict(prop or {})
            if key == "encoding" and field.encoding and prop.get("enum"):
                # what the field itself declares is always fine
                prop["enum"] = [*prop["enum"], field.encoding]
            _check_declared(prop, value, f"{where}.{key}")
        if data_key not in entry:
            raise RequestInvalid(f"{where}.{data_key}", "missing: the input's data (base64)")
        value = entry[data_key]
        if isinstance(value, str):
            # the document's minLength/maxLength of the data (an image's 1..10485760)
            # count the base64 text, as the webgate counts it: before decoding it
            _check_declared(props.get(data_key) or {}, value, f"{where}.{data_key}")
        node = DataListNode()
        node.key = field.key
        node.data = _decode_data(field, value, f"{where}.{data_key}")
        node.len = len(node.data)
        node.type = field.data_type
        node.status = int(entry.get("status", Once))
        nodes.append(node)
    req = DataListCls()
    req.list = nodes
    return req


def parse_request(body: bytes, fields: Declared, service_id: str) -> WebgateRequest:
    """The request a body asks for, or RequestInvalid naming the field (and the sid its
    answer carries). The body is parsed once: a multi-MB payload is decoded from JSON one
    time, whatever is asked of it after."""
    constants: list[str] = []
    try:
        if not body or body.isspace():
            raise ValueError("the body is empty")
        # NaN, Infinity and -Infinity are Python's, not JSON's: the webgate (Go's
        # encoding/json) refuses them, so a NaN never reaches a wrapper as "NaN". They
        # are noted, not raised at, so the request's sid can still be read
        doc = json.loads(body, parse_constant=lambda word: constants.append(word))
    except ValueError as exc:
        # the first constant came before whatever else failed
        reason = _not_json(constants[0]) if constants else str(exc)
        raise _invalid("body", f"not JSON ({reason}): {_shape(service_id)}", "") from None
    header = doc.get("header", {}) if isinstance(doc, dict) else None
    sid = header.get("sid") if isinstance(header, dict) else None
    # a sid that is not a string is refused (_checked): its answer gets a new one
    sid = sid if isinstance(sid, str) and sid else ""
    if constants:
        reason = _not_json(constants[0])
        raise _invalid("body", f"not JSON ({reason}): {_shape(service_id)}", sid)
    if not isinstance(doc, dict):
        raise _invalid("body", f"must be a JSON object: {_shape(service_id)}", sid)
    sid = sid or uuid.uuid4().hex
    try:
        params, req = _checked(doc, fields, service_id)
    except RequestInvalid as exc:
        exc.sid = sid
        raise
    # the headers the loader gets: the request's header (an object: _checked) with its
    # sid (the webgate forwards the request's header and the request's sid)
    headers = dict(doc.get("header", {}))
    headers["sid"] = sid
    return WebgateRequest(sid, headers, params, req)


def _invalid(field: str, message: str, sid: str) -> RequestInvalid:
    exc = RequestInvalid(field, message)
    exc.sid = sid or uuid.uuid4().hex
    return exc


def _shape(service_id: str) -> str:
    return (
        f'send a JSON object {{"header": {{"appid": ...}}, "parameter": {{"{service_id}": '
        '{...}}, "payload": {...}}'
    )


def _checked(
    doc: dict[str, Any], fields: Declared, service_id: str
) -> tuple[dict[str, Any], DataListCls]:
    """The ``(params, reqData)`` of a request's JSON object, or RequestInvalid naming the field."""
    for key in doc:
        if key not in ("header", "parameter", "payload"):
            raise RequestInvalid(key, "undeclared key; allowed: 'header', 'parameter', 'payload'")
    header = doc.get("header", {})
    if not isinstance(header, dict):
        raise RequestInvalid("header", 'must be an object, e.g. {"appid": "my-app"}')
    header_doc = header_schema()
    declared_header = header_doc["properties"]
    for key in header_doc["required"]:  # a header may be left out; one that is sent has these
        if "header" in doc and key not in header:
            raise RequestInvalid(
                f"header.{key}",
                f'required in a header; send it ("header": {{"{key}": "my-app"}}) or leave '
                "the header out",
            )
    for key, value in header.items():
        if key in declared_header:  # other keys (sid ...) are the caller's own
            _check_declared(declared_header[key], value, f"header.{key}")
    sid = header.get("sid")
    if sid is not None and not isinstance(sid, str):
        # it names the request (and its session): a dict or a number would reach the
        # wrapper as Python's spelling of it ("{'a': 1}", "True")
        raise RequestInvalid(
            "header.sid",
            f'must be a string, got {type(sid).__name__} {sid!r:.40}: send "sid": "my-request-1" '
            "or leave it out (easlab makes one)",
        )
    params = parse_params(doc.get("parameter"), fields, service_id)
    return params, parse_payload(doc.get("payload"), fields)


def left_out(req: DataListCls, fields: Declared) -> str:
    """What a request left out of the declared inputs, said for a wrapper's error (empty
    when it sent them all): ``reqData.get(key)`` is None for each, as on the platform."""
    sent = {node.key for node in req.list}
    missing = [f.key for f in fields.inputs if f.key not in sent]
    if not missing:
        return ""
    where = ", ".join(f"payload.{k}" for k in missing)
    gets = ", ".join(f"reqData.get({k!r})" for k in missing)
    verb = "is" if len(missing) == 1 else "are"
    return f"the request left out {where}: {gets} {verb} None, as on the platform"


def _not_json(word: str) -> str:
    return f"{word} is not a JSON value; send a number, or a string"


def error_answer(code: int, message: str, sid: str) -> dict[str, Any]:
    return {"header": {"code": code, "message": message, "sid": sid}}


def output_entry(field: PayloadField | None, data: bytes, status: int) -> dict[str, Any]:
    """One payload output: the declared field's encoding and the data as base64."""
    name = TYPE_NAMES.get(field.data_type, "text") if field else "text"
    entry: dict[str, Any] = {"encoding": (field.encoding if field else "") or "utf8"}
    if name == "text":
        entry["compress"] = "raw"
        entry["format"] = getattr(field, "format", "plain") or "plain"
    entry["status"] = status
    entry[name] = base64.b64encode(data).decode("ascii")
    return entry


def request_of(
    params: dict[str, Any], inputs: dict[str, bytes], fields: Declared, service_id: str
) -> dict[str, Any]:
    """A request body for ``params`` and raw input bytes (what the notebook and tests send)."""
    payload: dict[str, Any] = {}
    for key, data in inputs.items():
        field = fields.input(key)
        entry = output_entry(field, data, Once)
        entry.pop("compress", None)
        entry.pop("format", None)
        payload[key] = entry
    return {"header": {"appid": "easlab"}, "parameter": {service_id: params}, "payload": payload}


def decode_answer(answer: dict[str, Any]) -> dict[str, bytes]:
    """The outputs of an answer as bytes: ``{"output_text": b"..."}``."""
    out: dict[str, bytes] = {}
    for key, entry in (answer.get("payload") or {}).items():
        for name in ("text", "image", "audio", "video"):
            if name in entry:
                out[key] = base64.b64decode(entry[name])
    return out

"""The debug form of an aiges service, built from the schema its service answers on GET.

``AigesDebugSession`` holds the logic (controls from the schema, the webgate
request from the form's values, the answer decoded, the token, "copy as"
snippets) and is driven by tests without a browser; ``AigesDebugWidget``
renders it with ipywidgets: enum parameters as dropdowns, numbers, checkboxes,
a text box for text inputs and file pickers for audio and image inputs. The
token field, the "kernel is not running" banner and the "Copy as" buttons are
the generic debug widget's own pieces (widget.py: ``TokenBox``,
``KernelBanner``, ``CopyAsPane``).
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from typing import Any

from easlab.notebook import snippets
from easlab.notebook._target import Target
from easlab.notebook.widget_session import FollowsKernel

#: the key holding an input's data, by the schema's dataType
_DATA_KEY = {"text": "text", "audio": "audio", "image": "image", "video": "video"}


@dataclass(frozen=True)
class Control:
    """One form control: a parameter or an input."""

    key: str
    kind: str  # dropdown, integer, number, checkbox, text, textarea, file
    options: tuple[Any, ...] = ()
    default: Any = None
    required: bool = False
    data_type: str = ""  # inputs: text, audio, image
    limits: dict[str, Any] = field(default_factory=dict)


def fetch_schema(target: Target) -> dict[str, Any] | None:
    """The aiges schema document the service answers on GET, or None if it is not one."""
    from easlab.client.transport import TransportError

    if target.get_runs_model:
        return None  # not an aiges service, and the GET would run the model
    try:
        resp = target.client.send(b"", method="GET")  # the client's one path, token included
    except TransportError:
        return None
    if resp.status != 200:
        return None
    try:
        doc = json.loads(resp.body)
    except ValueError:
        return None
    if isinstance(doc, dict) and "schemainput" in doc and "meta" in doc:
        return doc
    return None


class AigesDebugSession(FollowsKernel):
    """Builds and sends webgate requests for one aiges service."""

    def __init__(self, target: Target, schema: dict[str, Any]) -> None:
        self.target = target
        self.schema = schema
        self.service_id = str(self._at("meta", "serviceId"))
        self.history: list[tuple[int, dict[str, Any]]] = []
        self.controls()  # a schema the form cannot read is said now, not on the first click

    def _at(self, *path: str) -> Any:
        """The schema's entry at ``path``; ValueError naming the first key it lacks."""
        entry: Any = self.schema
        for depth, key in enumerate(path):
            if not isinstance(entry, dict) or key not in entry:
                where = ".".join(path[: depth + 1])
                raise ValueError(
                    f"service {self.target.service_name!r} answers an aiges schema without "
                    f"{where}, which the debug form is built from: send the webgate JSON with "
                    "%%eas predict, or easlab.PredictClient"
                )
            entry = entry[key]
        return entry

    def controls(self) -> list[Control]:
        """The parameters, then the inputs, in declared order."""
        param = self._at("schemainput", "properties", "parameter", "properties", self.service_id)
        required = set(param.get("required") or [])
        out: list[Control] = []
        for key, spec in (param.get("properties") or {}).items():
            kind = {"integer": "integer", "number": "number", "boolean": "checkbox"}.get(
                spec.get("type"), "text"
            )
            if spec.get("enum"):
                out.append(
                    Control(key, "dropdown", tuple(spec["enum"]), spec["enum"][0], key in required)
                )
                continue
            # no default: start a number at its minimum, so the untouched form is valid
            default = _fitting(
                kind,
                spec.get("default", spec.get("minimum", False if kind == "checkbox" else None)),
            )
            limits = {k: spec[k] for k in ("maximum", "maxLength") if k in spec}
            out.append(Control(key, kind, (), default, key in required, limits=limits))
        inputs = self._at("meta", self.service_id, "input")
        for key, info in inputs.items() if isinstance(inputs, dict) else ():
            data_type = info.get("dataType", "text")
            kind = "textarea" if data_type == "text" else "file"
            out.append(Control(key, kind, (), None, True, data_type))
        return out

    def request(self, values: dict[str, Any], inputs: dict[str, bytes]) -> dict[str, Any]:
        """The webgate body for the form: params given (None left out), inputs as base64."""
        params = {k: v for k, v in values.items() if v is not None and v != ""}
        payload: dict[str, Any] = {}
        by_key = {c.key: c for c in self.controls()}
        for key, data in inputs.items():
            data_type = by_key[key].data_type if key in by_key else "text"
            entry: dict[str, Any] = {"status": 3}
            entry[_DATA_KEY.get(data_type, "text")] = base64.b64encode(data).decode("ascii")
            payload[key] = entry
        return {
            "header": {"appid": "easlab"},
            "parameter": {self.service_id: params},
            "payload": payload,
        }

    def set_token(self, token: str | None) -> None:
        """Sign the next requests with ``token``; the schema is read again with it."""
        self.target.close()
        self.target.token = token or None
        schema = fetch_schema(self.target)
        if schema is not None:
            self.schema = schema
            self.service_id = str(schema["meta"]["serviceId"])

    def body(self, values: dict[str, Any], inputs: dict[str, bytes]) -> bytes:
        """The bytes ``send`` posts for the form."""
        return json.dumps(self.request(values, inputs)).encode()

    def curl(self, values: dict[str, Any], inputs: dict[str, bytes]) -> str:
        """A curl command posting the form's webgate JSON, with the token header."""
        return snippets.curl_command(
            self.target.url,
            self.target.token,
            self.body(values, inputs),
            content_type="application/json",
        )

    def python_easlab(self, values: dict[str, Any], inputs: dict[str, bytes]) -> str:
        """easlab code posting the same webgate JSON."""
        t = self.target
        return snippets.python_easlab(
            t.endpoint, t.service_name, t.token, self.body(values, inputs)
        )

    def send(self, values: dict[str, Any], inputs: dict[str, bytes]) -> tuple[int, dict[str, Any]]:
        """POST the form; ``(HTTP status, answer JSON)``."""
        from easlab.client.transport import TransportError

        body = self.body(values, inputs)
        try:
            resp = self.target.client.send(body)  # signed by the client, as every request
        except TransportError as exc:
            answer: dict[str, Any] = {"header": {"message": str(exc)}}
            self.history.append((0, answer))
            return 0, answer
        answer = _answer_document(bytes(resp.body))
        self.history.append((resp.status, answer))
        return resp.status, answer

    @staticmethod
    def decoded(answer: dict[str, Any]) -> dict[str, Any]:
        """The outputs of an answer: text as str, anything else as bytes."""
        out: dict[str, Any] = {}
        payload = answer.get("payload")
        for key, entry in (payload if isinstance(payload, dict) else {}).items():
            for name in ("text", "image", "audio", "video"):
                if isinstance(entry, dict) and name in entry:
                    try:
                        data = base64.b64decode(str(entry[name]))
                    except ValueError:
                        out[key] = f"(its {name} is not base64: {str(entry[name])[:200]!r})"
                        continue
                    if name == "text":
                        try:
                            out[key] = data.decode("utf-8")
                            continue
                        except UnicodeDecodeError:
                            pass
                    out[key] = data
        return out


def _fitting(kind: str, value: Any) -> Any:
    """A schema's default as its field can hold it; None (the field's empty value) when it
    cannot: ``"type": "number", "default": "x"`` stopped the form's build with a TraitError."""
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "integer":
        return int(value) if numeric and float(value).is_integer() else None
    if kind == "number":
        return float(value) if numeric and math.isfinite(value) else None
    if kind == "checkbox":
        return value if isinstance(value, bool) else None
    return value if isinstance(value, str) else None if value is None else str(value)


def _answer_document(body: bytes) -> dict[str, Any]:
    """An aiges answer as a webgate document whose ``header`` is a dict: a body that is
    not one (not JSON, a JSON list, a header that is no object) becomes the header's
    ``message``, as text."""
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("header", {}), dict):
        return doc
    return {"header": {"message": body.decode("utf-8", "replace")}}

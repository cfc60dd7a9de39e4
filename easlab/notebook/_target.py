"""Where a notebook call goes (URL, service name, token) and what it sends.

Shared by ``%%eas predict``, ``easlab.bench`` and the debug widget, so all three
turn the same Python value into the same request bytes and read answers alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from easlab.errors import PredictException
from easlab.notebook import _http

PREDICT_PREFIX = "/api/predict/"


@dataclass
class Target:
    """A prediction URL, the service name in it, and its token."""

    url: str
    service_name: str
    token: str | None = None
    timeout: float = 30.0
    _signature: dict[str, Any] | None = field(default=None, repr=False)
    _signature_known: bool = field(default=False, repr=False)
    # Why the signature could not be read when the service refused us (401/403: the
    # token); None when it answered, or has no signature.
    signature_error: PredictException | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        """The base URL, without ``/api/predict/<name>``."""
        return self.url.split(PREDICT_PREFIX, 1)[0]

    def signature(self) -> dict[str, Any] | None:
        """The service's signature JSON (SPEC.md §1), or None for a non-tensor service."""
        if not self._signature_known:
            try:
                self._signature = fetch_signature(self.url, self.token, self.timeout)
            except PredictException as exc:
                self._signature, self.signature_error = None, exc
            self._signature_known = True
        return self._signature

    @property
    def format(self) -> str | None:
        """``tf``/``torch``/``blade``/``onnx`` for a tensor service (absent ``format`` means tf)."""
        sig = self.signature()
        if sig is None:
            return None
        return str(sig.get("format") or "tf")


def fetch_signature(url: str, token: str | None, timeout: float) -> dict[str, Any] | None:
    """GET the signature; None when the service answers anything but a signature.

    A 401/403 raises ``PredictException``: the token is wrong, which says nothing
    about whether the service has a signature.
    """
    conn = _http.connect(url, timeout)
    _, _, _, path = _http.split_url(url)
    headers = {"Authorization": token} if token else {}
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
    except OSError:
        return None
    finally:
        conn.close()
    if resp.status in (401, 403):
        raise PredictException(resp.status, data.decode("utf-8", "replace").strip())
    if resp.status != 200:
        return None
    try:
        sig = json.loads(data)
    except ValueError:
        return None
    if isinstance(sig, dict) and isinstance(sig.get("inputs"), list):
        return sig
    return None


def resolve(service_or_url: Any, token: str | None = None, timeout: float = 30.0) -> Target:
    """A ``Target`` from a ``Service``, a predict URL, or a service name on the local kernel.

    >>> resolve("http://127.0.0.1:8080/api/predict/echo", token="abc").service_name
    'echo'
    """
    if isinstance(service_or_url, Target):
        return service_or_url
    if isinstance(service_or_url, str):
        if "://" in service_or_url:
            url = service_or_url.rstrip("/")
            _http.split_url(url)  # validates the scheme and host
            if PREDICT_PREFIX not in url:
                raise ValueError(
                    f"{url!r} is not a prediction URL; expected "
                    f"<endpoint>{PREDICT_PREFIX}<service name>"
                )
            return Target(url, url.split(PREDICT_PREFIX, 1)[1], token, timeout)
        # a bare name: look it up on the running local kernel
        from easlab.client.control import connect

        desc = connect().describe(service_or_url)
        return Target(
            str(_field(desc, "url")),
            str(_field(desc, "name")),
            token or _field(desc, "token"),
            timeout,
        )
    svc_url = getattr(service_or_url, "url", None)
    svc_name = getattr(service_or_url, "name", None)
    if svc_url and svc_name:
        svc_token = token or getattr(service_or_url, "token", None)
        return Target(str(svc_url), str(svc_name), svc_token, timeout)
    raise TypeError(
        "expected a Service, a service name, or a URL like "
        f"http://host:port{PREDICT_PREFIX}NAME; got {type(service_or_url).__name__}"
    )


def _field(desc: Any, name: str) -> Any:
    """A ServiceDesc field, whether the control client returns a dict or an object."""
    if isinstance(desc, dict):
        return desc.get(name)
    return getattr(desc, name, None)


@dataclass
class Payload:
    """Request bytes and how to read the answer.

    ``kind`` is one of ``tensor``, ``pmml``, ``json``, ``text``, ``bytes``, ``request``.
    ``request`` is the wire request object when there is one (it parses the response).
    """

    body: bytes
    kind: str
    content_type: str | None = None
    request: Any = None
    inputs: dict[str, Any] | None = None
    signature_name: str | None = None
    fetch: list[str] | None = None
    format: str | None = None


def _is_array(value: Any) -> bool:
    return type(value).__module__ == "numpy" and hasattr(value, "dtype")


def _is_dataframe(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and type(value).__module__.startswith("pandas")


def encode(
    value: Any,
    target: Target | None = None,
    signature_name: str | None = None,
    fetch: list[str] | None = None,
) -> Payload:
    """Turn a Python value into request bytes.

    bytes → sent as-is; str → UTF-8 text; a DataFrame → PMML JSON records
    (SPEC.md §3); a dict of numpy arrays (or one array for a one-input service)
    → the service's request format, built from its signature; a request object
    (anything with ``to_string``) → its bytes; other lists/dicts → JSON.
    """
    if isinstance(value, Payload):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Payload(bytes(value), "bytes")
    if isinstance(value, str):
        return Payload(value.encode("utf-8"), "text")
    if _is_dataframe(value):
        # PMML services take a JSON list of feature objects (SPEC.md §3).
        return Payload(value.to_json(orient="records").encode("utf-8"), "pmml")
    if hasattr(value, "to_string") and hasattr(value, "parse_response"):
        raw = value.to_string()
        body = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        return Payload(body, "request", request=value)
    if _is_array(value) or (
        isinstance(value, dict) and value and any(_is_array(v) for v in value.values())
    ):
        return _encode_tensors(value, target, signature_name, fetch)
    if isinstance(value, (dict, list, int, float, bool)) or value is None:
        return Payload(json.dumps(value).encode("utf-8"), "json")
    raise TypeError(
        f"cannot send a {type(value).__name__}: use bytes, str, a dict of numpy arrays, "
        "a DataFrame (PMML), or an easlab request object"
    )


def _encode_tensors(
    value: Any, target: Target | None, signature_name: str | None, fetch: list[str] | None
) -> Payload:
    from easlab.wire.build import build_request

    sig = target.signature() if target is not None else None
    if sig is None and target is not None and target.signature_error is not None:
        raise target.signature_error
    if sig is None:
        name = target.service_name if target is not None else "the service"
        raise ValueError(
            f"{name} publishes no tensor signature, so numpy inputs cannot be encoded; "
            "send JSON, text or bytes, or build a request (easlab.TFRequest ...) yourself"
        )
    fmt = str(sig.get("format") or "tf")
    if not isinstance(value, dict):
        names = [i["name"] for i in sig["inputs"]]
        if len(names) != 1:
            raise ValueError(
                f"{target.service_name if target else 'the service'} has inputs {names}; "
                "pass a dict {input name: array}"
            )
        value = {names[0]: value}
    inputs = dict(value)
    if signature_name is None and not fetch:
        from easlab.wire.build import request_from_signature

        request = request_from_signature(sig, inputs)
    else:
        request = build_request(
            fmt,
            inputs,
            signature_name=signature_name or sig.get("signature_name"),
            fetch=fetch,
        )
    raw = request.to_string()
    return Payload(
        bytes(raw),
        "tensor",
        request=request,
        inputs=inputs,
        signature_name=signature_name or sig.get("signature_name"),
        fetch=fetch,
        format=fmt,
    )


def decode(payload: Payload, body: bytes) -> Any:
    """Read a 200 answer the way the request implies: arrays, a DataFrame, JSON, text or bytes."""
    if payload.request is not None:
        resp = payload.request.parse_response(body)
        if hasattr(resp, "to_numpy"):
            return resp.to_numpy()
        return resp
    if payload.kind == "bytes":
        return body
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return body
    try:
        obj = json.loads(text)
    except ValueError:
        return text
    if payload.kind == "pmml" and isinstance(obj, list) and obj and isinstance(obj[0], dict):
        import pandas as pd

        return pd.DataFrame(obj)
    return obj

"""One prediction call as a notebook shows it: what went out, what came back, the timings.

``call()`` composes the client layer (``to_request``, then one attempt through
the target's ``PredictClient.send``) and reads a 200 answer the way the value
implies; ``%%eas predict`` and the debug widget display the ``CallRecord``.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from easlab.notebook._target import Target

if TYPE_CHECKING:  # pragma: no cover
    from easlab.client.transport import Request, Response, Timing

__all__ = ["CallRecord", "call", "body_of", "fit_body"]


@dataclass
class CallRecord:
    """A finished call: the request as sent, the response (None when none came), the
    decoded answer and the timings (ms).

    ``kind`` is what the value was: ``tensor``, ``json``, ``pmml`` (a DataFrame),
    ``text``, ``bytes``, ``request`` (a request object) or ``seldon`` (a Seldon message;
    an ndarray/tensor answer becomes a DataFrame, columns from its ``names``).
    """

    target: Target
    kind: str
    request: Any
    sent: Request
    response: Response | None
    error: str | None
    timing: Timing
    value: Any
    serialize_ms: float
    deserialize_ms: float
    when: datetime
    #: no answer came within the target's timeout (``Target.timeout``, the notebook's
    #: ``EasMagic.timeout``): the service may still be working on the call
    timed_out: bool = False
    #: why a 200 answer could not be read as the request implies (a body that is not a
    #: TF PredictResponse, a shape its values do not fill ...); ``value`` is then None and
    #: the answer's bytes are in ``response``
    decode_error: str | None = None

    @property
    def status(self) -> int:
        """The HTTP status; 0 when no answer came (see ``error``)."""
        return self.response.status if self.response is not None else 0

    @property
    def inputs(self) -> dict[str, Any] | None:
        """The arrays sent, by input name, for a request built from the signature."""
        return getattr(self.request, "named_inputs", None)

    @property
    def network_ms(self) -> float:
        """Send + wait for the first byte + read: the network and the server."""
        return self.timing.total_ms

    @property
    def total_ms(self) -> float:
        return self.serialize_ms + self.network_ms + self.deserialize_ms

    def message(self) -> str:
        """The server's answer (or the transport error) as one line of text."""
        if self.response is None:
            return self.error or "no answer"
        text = self.response.text.strip()
        return " ".join(text.split())[:500] or self.response.reason

    def latency_text(self) -> str:
        return (
            f"{self.total_ms:.2f} ms (serialize {self.serialize_ms:.2f} · "
            f"network+server {self.network_ms:.2f} · deserialize {self.deserialize_ms:.2f})"
        )

    def __repr__(self) -> str:
        from easlab.notebook.display import nonfinite_note

        lines = [f"{self.target.service_name}: HTTP {self.status} in {self.latency_text()}"]
        value = self.value
        if isinstance(value, dict) and all(hasattr(v, "dtype") for v in value.values()):
            for name, arr in value.items():
                note = nonfinite_note(arr)
                lines.append(f"  {name}: {arr.dtype}{list(arr.shape)}{' ' + note if note else ''}")
        elif self.decode_error is not None:
            lines.append(f"  {self.decode_error}")
        elif value is not None:
            text = repr(value)
            lines.append("  " + (text if len(text) < 300 else text[:300] + " …"))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from easlab.notebook.display import escape, value_html

        colour = "#1e7d32" if self.status == 200 else "#b3261e"
        head = (
            f"<div><b>{escape(self.target.service_name)}</b> "
            f"<b style='color:{colour}'>HTTP {self.status}</b> "
            f"<small>{escape(self.latency_text())}</small></div>"
        )
        if self.decode_error is not None:
            return head + f"<div style='color:#b3261e'>✖ {escape(self.decode_error)}</div>"
        return head + value_html(self.value)


def _kind(value: Any, request: Any) -> str:
    from easlab.wire.json import JsonRequest
    from easlab.wire.seldon import SeldonRequest

    if value is request:
        return "request"
    if isinstance(request, SeldonRequest):
        return "seldon"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "bytes"
    if isinstance(value, str):
        return "text"
    if type(value).__name__ == "DataFrame":
        return "pmml"
    return "json" if isinstance(request, JsonRequest) else "tensor"


def body_of(request: Any) -> bytes:
    """``request.to_string()`` as bytes."""
    raw = request.to_string()
    return raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)


def call(
    target: Target,
    value: Any,
    signature_name: str | None = None,
    fetch: list[str] | None = None,
) -> CallRecord:
    """Encode ``value`` (``easlab.wire.build.to_request``, with the target's signature),
    send it once, signed, and decode a 200 answer.

    Non-200 answers, transport failures and 200 answers that cannot be decoded
    (``decode_error``) come back as records with ``value = None``; they do not raise.
    A value that cannot become a request raises before anything is sent.
    """
    from easlab.client.transport import Timing, TransportError
    from easlab.wire.build import to_request

    value = fit_body(value, target)
    t0 = time.perf_counter()
    request = to_request(value, target.signature_source, signature_name=signature_name, fetch=fetch)
    body = body_of(request)
    serialize_ms = (time.perf_counter() - t0) * 1000.0
    kind = _kind(value, request)
    when = datetime.now()
    response: Response | None
    error: str | None
    timed_out = False
    try:
        response = target.client.send(body)
    except TransportError as exc:
        response, error, sent = None, str(exc), exc.request
        timing = Timing(first_byte_ms=exc.elapsed_ms)
        timed_out = exc.timeout
    else:
        assert response.request is not None
        error, sent, timing = None, response.request, response.timing
    decoded: Any = None
    decode_error: str | None = None
    t1 = time.perf_counter()
    if response is not None and response.status == 200:
        try:
            decoded = _decode(kind, request, response.body)
        except ValueError as exc:  # WireError, and numpy/pandas refusing the decoded shape
            decode_error = (
                f"service {target.service_name!r} answered HTTP 200, but its answer "
                f"({len(response.body):,} bytes) cannot be read as a {kind} answer: {exc}"
            )
    deserialize_ms = (time.perf_counter() - t1) * 1000.0
    return CallRecord(
        target, kind, request, sent, response, error, timing, decoded, serialize_ms,
        deserialize_ms, when, timed_out, decode_error,
    )  # fmt: skip


def fit_body(value: Any, target: Target) -> Any:
    """``value`` as ``to_request`` should take it for ``target``'s service: a DataFrame
    sent to a tensor service becomes its inputs by ``easlab.wire.build.frame_inputs``'s
    rule, refused before anything is sent with the service named. Anything else comes
    back unchanged."""
    from easlab.wire.build import frame_inputs, is_tensor_signature, tensors_text

    pandas = sys.modules.get("pandas")  # a DataFrame exists only if pandas is imported
    if pandas is None or not isinstance(value, pandas.DataFrame):
        return value
    signature = target.signature()
    if not is_tensor_signature(signature) or not (signature or {}).get("inputs"):
        return value  # a PMML (JSON records) or Seldon service takes the frame as is
    assert signature is not None
    takes = f"service {target.service_name!r} takes tensors {tensors_text(signature)}"
    return frame_inputs(value, signature, takes)


def _decode(kind: str, request: Any, body: bytes) -> Any:
    """A 200 answer read the way the request implies: arrays, a DataFrame, JSON, text or bytes."""
    if kind in ("tensor", "request"):
        resp = request.parse_response(body)
        return resp.to_numpy() if hasattr(resp, "to_numpy") else resp
    if kind == "seldon":  # a Seldon ndarray/tensor answer: a DataFrame, columns from names
        answer = request.parse_response(body)
        payload = answer.data.get("data") if isinstance(answer.data, dict) else None
        if isinstance(payload, dict) and ("ndarray" in payload or "tensor" in payload):
            return answer.to_dataframe()
        return answer.data
    if kind == "bytes":
        return body
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return body
    try:
        obj = json.loads(text)
    except ValueError:
        return text
    if kind == "pmml" and isinstance(obj, list) and obj and isinstance(obj[0], dict):
        import pandas as pd

        return pd.DataFrame(obj)
    return obj

"""One prediction call with everything a notebook shows about it.

``call()`` encodes a Python value, sends it signed, and decodes the answer,
timing the three phases the debug widget and ``%%eas predict`` display:
serialize, network + server, deserialize.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from easlab.notebook import _http, _target


@dataclass
class CallRecord:
    """A finished call: the exchange on the wire, the decoded answer, and timings (ms)."""

    target: _target.Target
    payload: _target.Payload
    exchange: _http.Exchange
    value: Any
    serialize_ms: float
    deserialize_ms: float
    when: datetime

    @property
    def status(self) -> int:
        return self.exchange.status

    @property
    def network_ms(self) -> float:
        """Send + wait for the first byte + read: the network and the server."""
        return self.exchange.total_ms

    @property
    def total_ms(self) -> float:
        return self.serialize_ms + self.network_ms + self.deserialize_ms

    def message(self) -> str:
        """The server's answer (or the transport error) as one line of text."""
        if self.exchange.error:
            return self.exchange.error
        text = self.exchange.response_body.decode("utf-8", "replace").strip()
        return " ".join(text.split())[:500] or self.exchange.reason

    def latency_text(self) -> str:
        return (
            f"{self.total_ms:.2f} ms (serialize {self.serialize_ms:.2f} · "
            f"network+server {self.network_ms:.2f} · deserialize {self.deserialize_ms:.2f})"
        )

    def __repr__(self) -> str:
        lines = [f"{self.target.service_name}: HTTP {self.status} in {self.latency_text()}"]
        value = self.value
        if isinstance(value, dict) and all(hasattr(v, "dtype") for v in value.values()):
            for name, arr in value.items():
                lines.append(f"  {name}: {arr.dtype}{list(arr.shape)}")
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
        return head + value_html(self.value)


def call(
    target: _target.Target,
    value: Any,
    signature_name: str | None = None,
    fetch: list[str] | None = None,
    conn: Any = None,
) -> CallRecord:
    """Encode ``value`` (see ``_target.encode``), POST it signed, decode a 200 answer.

    Non-200 answers come back as records with ``value = None``; they do not raise.
    """
    t0 = time.perf_counter()
    payload = _target.encode(value, target, signature_name, fetch)
    headers = _http.request_headers(
        target.token, payload.body, target.service_name, payload.content_type
    )
    serialize_ms = (time.perf_counter() - t0) * 1000.0
    own = conn is None
    conn = conn or _http.connect(target.url, target.timeout)
    when = datetime.now()
    try:
        exchange = _http.post(conn, target.url, payload.body, headers)
    finally:
        if own:
            conn.close()
    decoded: Any = None
    t1 = time.perf_counter()
    if exchange.status == 200:
        decoded = _target.decode(payload, exchange.response_body)
    deserialize_ms = (time.perf_counter() - t1) * 1000.0
    return CallRecord(target, payload, exchange, decoded, serialize_ms, deserialize_ms, when)

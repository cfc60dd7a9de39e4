"""One timed HTTP exchange on a keep-alive connection (stdlib ``http.client``).

The notebook layer times its own calls so it can split latency into what the
client spends sending, what it waits for the first byte (network + server) and
what it spends reading the answer; ``requests`` hides that split.
"""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from easlab import _auth


@dataclass
class Exchange:
    """What went over the wire for one call, with the client-side timings (ms)."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int = 0
    reason: str = ""
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""
    send_ms: float = 0.0
    server_ms: float = 0.0
    receive_ms: float = 0.0
    error: str | None = None

    @property
    def total_ms(self) -> float:
        return self.send_ms + self.server_ms + self.receive_ms

    @property
    def request_line(self) -> str:
        parts = urlsplit(self.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return f"{self.method} {path} HTTP/1.1"


def split_url(url: str) -> tuple[str, str, int, str]:
    """``(scheme, host, port, path)`` of an http(s) URL, with a clear error otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"not an http(s) URL: {url!r}; expected e.g. http://127.0.0.1:8080/api/predict/NAME"
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, parts.hostname, port, path


def connect(url: str, timeout: float) -> http.client.HTTPConnection:
    scheme, host, port, _ = split_url(url)
    if scheme == "https":
        return http.client.HTTPSConnection(host, port, timeout=timeout)
    return http.client.HTTPConnection(host, port, timeout=timeout)


def request_headers(
    token: str | None, body: bytes, service_name: str, content_type: str | None
) -> dict[str, str]:
    """The headers the official client sends: signed when there is a token (SPEC.md §1)."""
    ctype = content_type or _auth.DEFAULT_CONTENT_TYPE
    if token:
        return _auth.signed_headers(token, body, service_name, ctype)
    return {"Content-Type": ctype, "Content-Length": str(len(body))}


def post(
    conn: http.client.HTTPConnection,
    url: str,
    body: bytes,
    headers: dict[str, str],
) -> Exchange:
    """POST ``body`` on ``conn`` and time the three phases; never raises for HTTP errors.

    A transport failure comes back as ``status == 0`` with ``error`` set, and the
    connection is closed so the next call opens a fresh one.
    """
    _, _, _, path = split_url(url)
    ex = Exchange("POST", url, dict(headers), body)
    t0 = time.perf_counter()
    try:
        conn.request("POST", path, body=body, headers=headers)
        t1 = time.perf_counter()
        resp = conn.getresponse()
        t2 = time.perf_counter()
        data = resp.read()
        t3 = time.perf_counter()
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        ex.error = f"{type(exc).__name__}: {exc}"
        ex.server_ms = (time.perf_counter() - t0) * 1000.0
        return ex
    ex.status = resp.status
    ex.reason = resp.reason
    ex.response_headers = {k: v for k, v in resp.getheaders()}
    ex.response_body = data
    ex.send_ms = (t1 - t0) * 1000.0
    ex.server_ms = (t2 - t1) * 1000.0
    ex.receive_ms = (t3 - t2) * 1000.0
    if resp.will_close:
        conn.close()
    return ex

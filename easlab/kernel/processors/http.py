"""What an HTTP-aware processor gets and gives: an ``HttpRequest`` in, an ``HttpAnswer`` out.

Most processors take the request body only (EAS's contract). Components that
bring their own REST contract under the service's path — Seldon's
``/api/v1.0/predictions``, ``/health/ping``, aiges' wrapper endpoints — are
*HTTP-aware*: their target is listed in ``HTTP_AWARE`` and the kernel hands
them an ``HttpRequest`` (encoded into the call's bytes) instead, with the
part of the URL after ``/api/predict/<service>``. They answer an ``HttpAnswer``
(encoded into the answer's bytes, the status in the frame as for every
processor): its content type is the HTTP answer's (seldon-core's ``pong`` is
``text/html; charset=utf-8``, its JSON ``application/json``). An exception in
``process()`` is wrapped by the worker (:func:`error_answer`), so every answer
of an HTTP-aware instance is an ``HttpAnswer``. The kernel's own refusals of
such a call (408, 450, 502, 503: ``Call.refuse``) are not: the kernel knows
them as its own and sends them as text. The token check, queueing, timeouts
and instance supervision stay the kernel's, as for every service.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

#: the content type of an HTTP-aware processor's error the worker answers for it
TEXT_PLAIN = "text/plain; charset=utf-8"

#: processor targets ("module:Class") that get an HttpRequest; added to by their modules' owners
HTTP_AWARE: set[str] = set()


@dataclass(frozen=True)
class HttpRequest:
    """One request as an HTTP-aware processor sees it."""

    method: str  # "POST", "GET", ...
    path: str  # after /api/predict/<service>: "" or "/api/v1.0/predictions", "/health/ping" ...
    query: str  # the raw query string, without "?"
    content_type: str | None
    body: bytes

    def encode(self) -> bytes:
        """One line of JSON with the request line and headers, then the body as sent."""
        head = json.dumps(
            {
                "method": self.method,
                "path": self.path,
                "query": self.query,
                "content_type": self.content_type,
            },
            separators=(",", ":"),
        ).encode()
        return head + b"\n" + self.body

    @classmethod
    def decode(cls, data: bytes) -> HttpRequest:
        head, _, body = bytes(data).partition(b"\n")
        fields = json.loads(head)
        return cls(
            str(fields["method"]),
            str(fields["path"]),
            str(fields.get("query") or ""),
            fields.get("content_type"),
            body,
        )


#: header fields the kernel writes itself (framing, the connection, the content type):
#: an HttpAnswer's own ``headers`` cannot name them
KERNELS_OWN = frozenset(
    {"content-type", "content-length", "transfer-encoding", "connection", "keep-alive",
     "upgrade", "trailer", "te", "proxy-connection"}
)  # fmt: skip
_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


@dataclass(frozen=True)
class HttpAnswer:
    """One answer of an HTTP-aware processor: status, content type, body, and any other
    header fields it sets (a Seldon component's error handler's ``Retry-After``)."""

    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()

    def encode(self) -> bytes:
        """One line of JSON with the content type (and headers), then the body as it goes out."""
        fields: dict[str, object] = {"content_type": self.content_type}
        if self.headers:
            fields["headers"] = [list(pair) for pair in self.headers]
        head = json.dumps(fields, separators=(",", ":"))
        return head.encode() + b"\n" + self.body

    def reply(self) -> tuple[bytes, int]:
        """What ``Processor.process`` returns for it: ``(encoded, status)``."""
        return self.encode(), self.status

    @classmethod
    def decode(cls, status: int, data: bytes | bytearray) -> HttpAnswer:
        """The answer ``encode`` wrote, with the status its frame carried."""
        cut = data.find(b"\n")  # the end of the head line: JSON escapes its newlines
        if cut < 0:
            raise ValueError("not an HttpAnswer: no head line")
        fields = json.loads(bytes(data[:cut]))
        if not isinstance(fields, dict) or not isinstance(fields.get("content_type"), str):
            raise ValueError("not an HttpAnswer: no content_type in its head line")
        content_type = fields["content_type"]
        if not _header_value(content_type):
            raise ValueError(f"content type {content_type!r} is no header value")
        return cls(status, content_type, bytes(data[cut + 1 :]), _headers(fields.get("headers")))


def _headers(given: object) -> tuple[tuple[str, str], ...]:
    """An answer's own header fields, each one the kernel can write as it came."""
    if given is None:
        return ()
    if not isinstance(given, list):
        raise ValueError("not an HttpAnswer: its headers are no list")
    headers = []
    for pair in given:
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
        ):
            raise ValueError(f"header {pair!r} is no [name, value] pair of strings")
        name, value = pair
        if not name or not set(name) <= _TOKEN_CHARS:
            raise ValueError(f"header name {name!r} is no HTTP field name")
        if name.lower() in KERNELS_OWN:
            raise ValueError(f"header {name!r} is the kernel's to write")
        if not _header_value(value):
            raise ValueError(f"header {name}'s value {value!r} is no header value")
        headers.append((name, value))
    return tuple(headers)


def _header_value(text: str) -> bool:
    # it becomes a header line (latin-1, as flask writes one): a line break would end
    # it and start another
    return not any(c in text for c in "\r\n\0") and _latin1(text)


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def error_answer(message: bytes) -> bytes:
    """An HTTP-aware processor's failure (``process()`` raised) as the ``HttpAnswer``
    body the worker sends for it: the worker's message, as text."""
    return HttpAnswer(0, TEXT_PLAIN, message).encode()

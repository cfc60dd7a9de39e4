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


@dataclass(frozen=True)
class HttpAnswer:
    """One answer of an HTTP-aware processor: status, content type and body."""

    status: int
    content_type: str
    body: bytes

    def encode(self) -> bytes:
        """One line of JSON with the content type, then the body as it goes out."""
        head = json.dumps({"content_type": self.content_type}, separators=(",", ":"))
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
        content_type = fields.get("content_type") if isinstance(fields, dict) else None
        if not isinstance(content_type, str):
            raise ValueError("not an HttpAnswer: no content_type in its head line")
        # it becomes a header line (latin-1, as flask writes one): a line break would end
        # it and start another
        if any(c in content_type for c in "\r\n\0") or not _latin1(content_type):
            raise ValueError(f"content type {content_type!r} is no header value")
        return cls(status, content_type, bytes(data[cut + 1 :]))


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

"""What an HTTP-aware processor gets: the method, the sub-path, the query and the body.

Most processors take the request body only (EAS's contract). Components that
bring their own REST contract under the service's path — Seldon's
``/api/v1.0/predictions``, ``/health/ping``, aiges' wrapper endpoints — are
*HTTP-aware*: their target is listed in ``HTTP_AWARE`` and the kernel hands
them an ``HttpRequest`` (encoded into the call's bytes) instead, with the
part of the URL after ``/api/predict/<service>``; their answers go out as
``application/json``. The token check, queueing, timeouts and instance
supervision stay the kernel's, as for every service.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

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

"""Where the time of one prediction call went: serialize → send → first byte → body read.

``requests`` hides the moment the request has left the client, so the session
mounts :class:`TimedAdapter`, whose connections note the time when urllib3
starts waiting for the response (the request line, headers and body are all
written by then). Marks live in a thread-local, so concurrent ``predict`` calls
from several threads each time their own request.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


@dataclass(frozen=True)
class Latency:
    """Timings of one ``PredictClient.predict`` call, in milliseconds.

    ``serialize_ms``: building the body (``to_string()``) and signing it;
    ``send_ms``: opening the connection when none was pooled, and writing the request;
    ``first_byte_ms``: request written → status line and headers received (server work + network);
    ``read_ms``: headers → whole body read; ``parse_ms``: ``parse_response()``;
    ``total_ms``: the whole call, failed attempts included (``attempts`` counts them all).
    The timings of the phases are those of the last (successful) attempt.
    """

    serialize_ms: float
    send_ms: float
    first_byte_ms: float
    read_ms: float
    parse_ms: float
    total_ms: float
    attempts: int = 1

    @property
    def server_ms(self) -> float:
        """Alias of ``first_byte_ms``: the wait that the server's work dominates."""
        return self.first_byte_ms

    def __str__(self) -> str:
        return (
            f"total {self.total_ms:.2f} ms (serialize {self.serialize_ms:.2f}, "
            f"send {self.send_ms:.2f}, first byte {self.first_byte_ms:.2f}, "
            f"read {self.read_ms:.2f}, parse {self.parse_ms:.2f}; attempts {self.attempts})"
        )


_marks = threading.local()


def start_send() -> float:
    """Forget the previous mark of this thread and return the send start time."""
    _marks.sent_at = None
    return time.perf_counter()


def sent_at() -> float | None:
    """When this thread's last request was fully written, or None if unknown."""
    return getattr(_marks, "sent_at", None)


class _TimedHTTPConnection(HTTPConnection):
    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        # urllib3 calls getresponse() right after writing the whole request.
        _marks.sent_at = time.perf_counter()
        return super().getresponse(*args, **kwargs)


class _TimedHTTPSConnection(HTTPSConnection):
    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _marks.sent_at = time.perf_counter()
        return super().getresponse(*args, **kwargs)


class _TimedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _TimedHTTPConnection


class _TimedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _TimedHTTPSConnection


class TimedAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections record when the request was sent."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _TimedHTTPConnectionPool,
            "https": _TimedHTTPSConnectionPool,
        }

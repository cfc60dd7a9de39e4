"""Where the time of one prediction call went: serialize → send → first byte → body read.

The transport (``easlab.client.transport``) times the exchange itself (send,
first byte, body read); ``PredictClient.predict`` adds the client's own work
around it (building and signing the body, parsing the answer).
"""

from __future__ import annotations

from dataclasses import dataclass


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

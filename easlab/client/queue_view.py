"""What ``easlab queue NAME`` / ``%eas queue NAME`` shows: a service's queues as numbers.

Depth, records in flight (delivered, not yet committed), oldest record's age and
throughput. The kernel counts puts and consumed records (``Queue.stats`` in
kernel/queue.py, carried by the control API's ``desc`` under ``"queues"``);
throughput is the difference between two polls divided by the time between them,
so the first poll has none yet.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from easlab._table import format_table

if TYPE_CHECKING:  # pragma: no cover
    from easlab.client.control import KernelClient

__all__ = ["QUEUE_COLUMNS", "QueueView"]

QUEUE_COLUMNS = ["QUEUE", "DEPTH", "IN_FLIGHT", "PUTS/S", "CONSUMED/S", "OLDEST_AGE_S", "PUTS"]


class QueueView:
    """A service's queues, polled: ``poll()`` returns one row per queue."""

    def __init__(
        self,
        name: str,
        kernel: KernelClient,
        interval: float = 1.0,
        seconds: float | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
        if seconds is not None and seconds < 0:
            raise ValueError(f"seconds must be 0 or more, got {seconds!r}")
        self.name = name
        self.kernel = kernel
        self.interval = float(interval)
        self.seconds = seconds
        self.rows: list[dict[str, Any]] = []
        self.status = ""
        self.polls = 0
        self._last: tuple[float, dict[str, dict[str, Any]]] | None = None

    def poll(self) -> list[dict[str, Any]]:
        """Ask the kernel now; rates come from the change since the previous poll."""
        desc = self.kernel.describe(self.name)
        queues = desc.get("queues")
        if not queues:
            raise ValueError(
                f"service '{self.name}' has no queues: `queue` shows a queue service "
                "(metadata.type Queue) or an asynchronous one (metadata.type Async)"
            )
        now = time.monotonic()
        before = self._last
        rows = []
        for path, stats in queues.items():
            row = {
                "queue": path,
                "depth": stats.get("length", 0),
                "in_flight": stats.get("in_flight", 0),
                "puts_per_s": None,
                "consumed_per_s": None,
                "oldest_age_s": stats.get("oldest_age_s"),
                "puts": stats.get("puts", 0),
                "consumed": stats.get("consumed", 0),
            }
            if before is not None and path in before[1] and now > before[0]:
                dt = now - before[0]
                old = before[1][path]
                row["puts_per_s"] = max(row["puts"] - old.get("puts", 0), 0) / dt
                row["consumed_per_s"] = max(row["consumed"] - old.get("consumed", 0), 0) / dt
            rows.append(row)
        self._last = (now, queues)
        self.rows = rows
        self.status = str(desc.get("status") or "")
        self.polls += 1
        return rows

    def table_rows(self) -> list[list[Any]]:
        return [
            [
                r["queue"],
                r["depth"],
                r["in_flight"],
                _rate(r["puts_per_s"]),
                _rate(r["consumed_per_s"]),
                "-" if r["oldest_age_s"] is None else f"{r['oldest_age_s']:.1f}",
                r["puts"],
            ]
            for r in self.rows
        ]

    def text(self) -> str:
        """The rows as the CLI prints them."""
        return format_table(QUEUE_COLUMNS, self.table_rows())

    def __repr__(self) -> str:
        return self.text()


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"

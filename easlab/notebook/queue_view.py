"""``%eas queue NAME``: a service's queues in a notebook, updated live while work flows.

The numbers come from ``easlab.queue`` (a ``QueueView``, easlab/client/queue_view.py).
Shown in a notebook, a ``LiveQueue`` puts one table in the cell's output and, from
a background thread, updates that same display (one handle) each ``interval``
seconds (notebook/live.py, shared with ``%eas monitor``). It stops when its ``seconds`` are over, on
``stop()``, when the same cell runs again (or another live view of the same
service starts, outside JupyterLab), or when the kernel stops answering; the
last table stays with a note saying why it stopped.
"""

from __future__ import annotations

import html
import time
from typing import Any

from easlab.client.queue_view import QUEUE_COLUMNS, QueueView
from easlab.notebook.live import LiveDisplay

__all__ = ["LiveQueue"]


class LiveQueue(LiveDisplay):
    """A ``QueueView`` that keeps its display up to date from a background thread."""

    over = "time over"

    def __init__(self, view: QueueView) -> None:
        super().__init__(view.interval, view.seconds, f"easlab-queue-{view.name}")
        self.view = view

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.view.rows

    def prepare_thread(self) -> None:
        from easlab.client.control import KernelClient

        kernel = self.view.kernel
        # the live thread gets its own HTTP session (requests sessions are not thread-safe)
        if isinstance(kernel, KernelClient):
            self.view.kernel = kernel.with_own_session()

    def poll(self) -> None:
        self.view.poll()

    def frame(self, note: str | None = None) -> Any:
        return _Table(self.view, note)

    def _ipython_display_(self) -> None:
        self.show(f"queue:{self.view.name}")

    def __repr__(self) -> str:
        state = "live" if self.running else (self.stopped_because or "snapshot")
        return f"<easlab LiveQueue {self.view.name!r} {state}>\n{self.view.text()}"


class _Table:
    """One frame: the view's rows as HTML, with a plain-text fallback."""

    def __init__(self, view: QueueView, note: str | None = None) -> None:
        self.title = f"{view.name} — {view.status or '?'}, {time.strftime('%H:%M:%S')}"
        if note:
            self.title += f" [{note}]"
        self.rows = view.table_rows()
        self.text = view.text()

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in QUEUE_COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
            for row in self.rows
        )
        return (
            f"<div><b>{html.escape(self.title)}</b><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table></div>"
        )

    def __repr__(self) -> str:
        return f"{self.title}\n{self.text}"

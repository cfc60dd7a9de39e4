"""``%eas queue NAME``: a service's queues in a notebook, updated live while work flows.

The numbers come from ``easlab.queue`` (a ``QueueView``, easlab/client/queue_view.py).
Shown in a notebook, a ``LiveQueue`` puts one table in the cell's output and, from
a background thread, updates that same display (one handle) each ``interval``
seconds, as ``%eas monitor`` does. It stops when its ``seconds`` are over, on
``stop()``, when the same cell runs again (or another live view of the same
service starts, outside JupyterLab), or when the kernel stops answering; the
last table stays with a note saying why it stopped.
"""

from __future__ import annotations

import html
import threading
import time
from typing import Any

from easlab.client.queue_view import QUEUE_COLUMNS, QueueView

__all__ = ["LiveQueue"]

#: live views by the cell (or service) that made them; a new one stops the old
_live: dict[str, LiveQueue] = {}
_live_lock = threading.Lock()


class LiveQueue:
    """A ``QueueView`` that keeps its display up to date from a background thread."""

    def __init__(self, view: QueueView) -> None:
        self.view = view
        self.stopped_because: str | None = None
        self.updates = 0  # display updates done by the live thread
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.view.rows

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, handle: Any) -> None:
        """Poll and update ``handle`` (an IPython DisplayHandle) each interval."""
        if self._thread is not None:
            return
        from easlab.client.control import KernelClient

        kernel = self.view.kernel
        # the live thread gets its own HTTP session (requests sessions are not thread-safe)
        if isinstance(kernel, KernelClient):
            self.view.kernel = KernelClient(kernel.endpoint, admin_token=kernel.admin_token)
        self._thread = threading.Thread(
            target=self._run, args=(handle,), name=f"easlab-queue-{self.view.name}", daemon=True
        )
        self._thread.start()

    def stop(self, why: str = "stopped") -> None:
        """Stop updating (the last table stays)."""
        if self.stopped_because is None:
            self.stopped_because = why
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _run(self, handle: Any) -> None:
        from easlab.errors import EaslabError

        view = self.view
        ends = None if view.seconds is None else time.monotonic() + view.seconds
        while not self._stop.wait(view.interval):
            if ends is not None and time.monotonic() >= ends:
                self.stopped_because = self.stopped_because or "time over"
                break
            try:
                view.poll()
            except (EaslabError, ValueError) as exc:  # the kernel or the service went away
                self.stopped_because = self.stopped_because or f"stopped: {exc}"
                break
            self.updates += 1
            handle.update(_Table(view))
        handle.update(_Table(view, self.stopped_because or "stopped"))

    def _ipython_display_(self) -> None:
        from IPython.display import display

        from easlab.notebook.monitor import _cell_key

        handle = display(_Table(self.view), display_id=True)
        key = _cell_key() or f"queue:{self.view.name}"
        with _live_lock:
            old = _live.pop(key, None)
            _live[key] = self
        if old is not None:
            old.stop("the cell ran again")
        self.start(handle)

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

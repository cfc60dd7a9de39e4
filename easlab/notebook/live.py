"""One display, kept up to date from a background thread: ``%eas monitor`` and ``%eas queue``.

A ``LiveDisplay`` shows its first frame in the cell's output and then, each
``interval`` seconds, fetches fresh numbers (``poll``) and replaces that same
display (one IPython display handle) with a new frame. It stops when its
``duration`` is over, on ``stop()``, when the same cell runs again (or, outside
JupyterLab, another live display of the same key starts), or when the kernel
or the service stops answering; the last frame stays, with a note saying why.
Subclasses say what to fetch and how a frame looks.
"""

from __future__ import annotations

import threading
import time
from typing import Any

#: live displays by the cell (or service) that made them; a new one stops the old
_live: dict[str, LiveDisplay] = {}
_live_lock = threading.Lock()


class LiveDisplay:
    """Base of the notebook's live views; subclasses implement ``poll`` and ``frame``."""

    #: what ``stopped_because`` says when ``duration`` ran out
    over = "duration over"

    def __init__(self, interval: float, duration: float | None, thread_name: str) -> None:
        self.interval = float(interval)
        self.duration = duration
        self.stopped_because: str | None = None
        self.updates = 0  # display updates done by the live thread
        self._thread_name = thread_name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what subclasses implement ---------------------------------------------------

    def poll(self) -> None:
        """Fetch fresh numbers; EaslabError or ValueError when the kernel or service is gone."""
        raise NotImplementedError

    def frame(self, note: str | None = None) -> Any:
        """What the display shows for the numbers fetched last (None: nothing to show)."""
        raise NotImplementedError

    def prepare_thread(self) -> None:
        """Called before the live thread starts (e.g. to give it its own HTTP session)."""

    # -- live ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, handle: Any = None) -> None:
        """Update ``handle`` (an IPython DisplayHandle; None: poll only) each interval."""
        if self._thread is not None:
            return
        self.prepare_thread()
        self._thread = threading.Thread(
            target=self._run, args=(handle,), name=self._thread_name, daemon=True
        )
        self._thread.start()

    def stop(self, why: str = "stopped") -> None:
        """Stop updating (the last frame stays)."""
        if self.stopped_because is None:
            self.stopped_because = why
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _run(self, handle: Any) -> None:
        from easlab.errors import EaslabError

        ends = None if self.duration is None else time.monotonic() + self.duration
        while not self._stop.wait(self.interval):
            if ends is not None and time.monotonic() >= ends:
                self.stopped_because = self.stopped_because or self.over
                break
            try:
                self.poll()
            except (EaslabError, ValueError) as exc:  # the kernel or the service went away
                self.stopped_because = self.stopped_because or f"stopped: {exc}"
                break
            self.updates += 1
            if handle is not None:
                handle.update(self.frame())
        last = self.frame(self.stopped_because or "stopped")
        if handle is not None and last is not None:
            handle.update(last)

    def show(self, key: str) -> None:
        """Display the first frame and go live; a live display of the same cell (else
        ``key``) stops."""
        from IPython.display import display

        handle = display(self.frame(), display_id=True)
        key = _cell_key() or key
        with _live_lock:
            old = _live.pop(key, None)
            _live[key] = self
        if old is not None:
            old.stop("the cell ran again")
        self.start(handle)


def _cell_key() -> str | None:
    """JupyterLab's id of the running cell (sent in the execute request's metadata)."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        kernel = getattr(shell, "kernel", None)
        parent = kernel.get_parent() if kernel is not None else None
    except Exception:
        return None
    cell = (parent or {}).get("metadata", {}).get("cellId")
    return f"cell:{cell}" if cell else None

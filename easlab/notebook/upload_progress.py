"""Upload progress in a notebook: one bar per file, redrawn in place, while ``%%eas create``
(or ``modify``) on PAI-EAS sends a local model to OSS.

``UploadProgress`` is the ``progress(upload, sent, total)`` callback of
``PaiClient.upload_progress`` (the ``easlab`` command's is a stderr line,
easlab/cloud/progress.py). It works with any client that calls it so; the magic
sets it on the client it connects, and Python users can too:

>>> pai = easlab.connect(target="pai", region="cn-hangzhou", oss="oss://b/p")  # doctest: +SKIP
>>> pai.upload_progress = UploadProgress()                                    # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from easlab.notebook.display import escape

__all__ = ["UploadProgress", "UploadLine"]


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


class UploadLine:
    """One file's upload: ``oss://…``, a bar, the percentage and the bytes sent; or that
    the object is already on OSS (the same content hash) and was not sent again."""

    WIDTH = 30

    def __init__(self, uri: str, sent: int, total: int, existed: bool = False) -> None:
        self.uri = uri
        self.sent = sent
        self.total = total
        self.existed = existed

    @property
    def done(self) -> bool:
        return self.sent >= self.total

    @property
    def fraction(self) -> float:
        return min(1.0, self.sent / self.total) if self.total > 0 else 1.0

    def _amount(self) -> str:
        if self.done:
            return _size(self.total)
        return f"{_size(self.sent)} of {_size(self.total)}"

    def __repr__(self) -> str:
        if self.existed:
            return f"Already on OSS, not uploaded again: {self.uri} ({_size(self.total)})"
        filled = int(self.WIDTH * self.fraction)
        bar = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {self.fraction:4.0%}"
        verb = "Uploaded" if self.done else "Uploading"
        return f"{verb} {self.uri} {bar} ({self._amount()})"

    def _repr_html_(self) -> str:
        if self.existed:
            return (
                "<div style='font-family:monospace'>✔ Already on OSS, not uploaded again: "
                f"<code>{escape(self.uri)}</code> ({escape(_size(self.total))})</div>"
            )
        verb = "✔ Uploaded" if self.done else "⬆ Uploading"
        # <progress> is a bar in every browser and in JupyterLab, with no widget state to keep
        return (
            "<div style='font-family:monospace'>"
            f"{verb} <code>{escape(self.uri)}</code> "
            f"<progress value='{self.sent}' max='{max(self.total, 1)}' "
            "style='width:16em;vertical-align:middle'></progress> "
            f"{self.fraction:.0%} ({escape(self._amount())})</div>"
        )


class UploadProgress:
    """``progress(upload, sent, total)``: a line per file, updated in place.

    The OSS SDK reports every chunk; the line is redrawn at most every
    ``INTERVAL_S`` seconds (a terminal IPython prints each redraw), and always
    for the first and the last report of a file. ``display`` is IPython's
    ``display`` unless given (called as ``display(line, display_id=True)``).
    """

    INTERVAL_S = 0.25

    def __init__(self, display: Callable[..., Any] | None = None) -> None:
        self._display = display
        self._handles: dict[str, Any] = {}
        self._drawn: dict[str, float] = {}

    def _show(self, line: UploadLine) -> Any:
        if self._display is not None:
            return self._display(line, display_id=True)
        from IPython.display import display

        return display(line, display_id=True)

    def __call__(self, upload: Any, sent: int, total: int) -> None:
        uri = str(getattr(upload, "uri", upload))
        # an object already on OSS is reported once, as (size, size), with existed True
        line = UploadLine(uri, sent, total, existed=getattr(upload, "existed", None) is True)
        now = time.monotonic()
        handle = self._handles.get(uri)
        if handle is None:
            self._handles[uri] = self._show(line)
            self._drawn[uri] = now
        elif line.done or now - self._drawn[uri] >= self.INTERVAL_S:
            handle.update(line)
            self._drawn[uri] = now

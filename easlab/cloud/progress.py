"""The upload progress of the ``easlab`` command on stderr: one line redrawn on a terminal,
a line at the start and one at the end elsewhere (a CI log or a file gets no hundred
redraws), and one line for an object already on OSS."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from easlab.cloud.upload import Upload

__all__ = ["print_upload_progress", "bar", "end_line"]

#: uploads whose start line was printed (not a terminal: start and end lines only)
_started: set[str] = set()
#: a terminal's progress line is drawn and not ended (an upload under way)
_drawing = False


def bar(sent: int, total: int, width: int = 30) -> str:
    """``[#########.....]  45%``."""
    fraction = sent / total if total else 1.0
    filled = int(width * fraction)
    return f"[{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%}"


def print_upload_progress(upload: Upload, sent: int, total: int) -> None:
    """Show how far ``upload`` is (``PaiClient.upload_progress``); an object already
    there (``upload.existed``) is said to be so, not drawn as uploaded."""
    err = sys.stderr
    if upload.existed:
        print(
            f"[OK] Already on OSS, not uploaded again: {upload.uri} "
            f"(same content: sha256 {upload.sha256[:16]})",
            file=err,
            flush=True,
        )
        return
    done = sent >= total
    if _isatty(err):
        global _drawing
        end = "\n" if done else ""
        print(f"\r[OK] Uploading {upload.uri} {bar(sent, total)}", end=end, file=err, flush=True)
        _drawing = not done
        return
    if upload.uri not in _started:
        _started.add(upload.uri)
        print(f"[OK] Uploading {upload.uri} ({_size(total)}) ...", file=err, flush=True)
    if done:
        _started.discard(upload.uri)
        print(f"[OK] Uploaded {upload.uri}", file=err, flush=True)


def end_line() -> None:
    """End a progress line an upload left half drawn (it failed, or was interrupted), so
    that the error is said on a line of its own, not after ``[####......]  40%``."""
    global _drawing
    if _drawing:
        _drawing = False
        print(file=sys.stderr, flush=True)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False

"""The upload progress bar of the ``easlab`` command (stderr, one line redrawn)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from easlab.cloud.upload import Upload

__all__ = ["print_upload_progress", "bar"]


def bar(sent: int, total: int, width: int = 30) -> str:
    """``[#########.....]  45%``."""
    fraction = sent / total if total else 1.0
    filled = int(width * fraction)
    return f"[{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%}"


def print_upload_progress(upload: Upload, sent: int, total: int) -> None:
    """Redraw the line of ``upload``; a newline when it is complete."""
    end = "\n" if sent >= total else ""
    print(f"\r[OK] Uploading {upload.uri} {bar(sent, total)}", end=end, file=sys.stderr, flush=True)

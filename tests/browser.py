"""What the real-browser tests share: Debian's Chromium, its flags, a notebook on disk.

Chromium comes from ``make test`` (the browser-deps target); Playwright drives it.
The flags keep it off this machine's closed network (without them it retries
Google's hosts at every start).
"""

from __future__ import annotations

import json
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def write_notebook(path: Path, sources: list[str]) -> None:
    """A notebook of code cells with these sources, unexecuted, for the python3 kernel."""
    cells = [
        {"cell_type": "code", "metadata": {}, "source": src, "outputs": [], "execution_count": None}
        for src in sources
    ]
    nb = {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))

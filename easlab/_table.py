"""Plain-text tables in eascmd's style (``+----+`` borders, one row per line)."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal: two for a wide (CJK) character, none for a
    combining mark; ``len`` pushed a Chinese description's border out of line."""
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def _cell_lines(value: Any) -> list[str]:
    text = "" if value is None else str(value)
    return text.split("\n") or [""]


def format_table(headers: Sequence[str] | None, rows: Sequence[Sequence[Any]]) -> str:
    """Render ``rows`` under ``headers`` (None: no header row); cells may span lines."""
    cells = [[_cell_lines(v) for v in row] for row in rows]
    ncols = max([len(headers or [])] + [len(row) for row in cells])
    widths = [0] * ncols
    for row in ([[[h] for h in headers]] if headers else []) + cells:
        for i, lines in enumerate(row):
            widths[i] = max(widths[i], *(_width(line) for line in lines))
    border = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def render(row: list[list[str]]) -> list[str]:
        row = row + [[""]] * (ncols - len(row))
        height = max(len(lines) for lines in row)
        out = []
        for k in range(height):
            parts = [
                _pad(lines[k] if k < len(lines) else "", widths[i]) for i, lines in enumerate(row)
            ]
            out.append("| " + " | ".join(parts) + " |")
        return out

    lines = [border]
    if headers:
        lines += render([[h] for h in headers])
        lines.append(border)
    for row in cells:
        lines += render(row)
    lines.append(border)
    return "\n".join(lines)

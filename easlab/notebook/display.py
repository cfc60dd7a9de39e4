"""Small HTML renderings for notebook output: service summaries, errors, arrays.

Each renderer is a plain object with ``_repr_html_`` and a plain-text ``__repr__``,
so the same call reads well in Jupyter and in a terminal IPython.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "escape",
    "mask_token",
    "token_html",
    "png_img",
    "ErrorLine",
    "ServiceSummary",
    "array_html",
    "value_html",
    "cut_text",
    "TEXT_CHARS",
    "notebook_terms",
]

_RED = "#b3261e"

# The CLI commands a kernel's message names, as the magic that does the same.
_CLI_TERMS = re.compile(r"`?easlab (logs|w|desc|release|modify|start|stop)((?: [\w.-]+)?)`?")


def notebook_terms(message: str) -> str:
    """A kernel's message with its CLI commands as magics: in a notebook the log is
    ``%eas logs NAME``, a change ``%%eas modify``, not a terminal command.

    >>> notebook_terms("ValueError: bad (traceback in the service log: easlab logs m)")
    'ValueError: bad (traceback in the service log: %eas logs m)'
    """
    message = _CLI_TERMS.sub(r"%eas \1\2", message)
    return message.replace("`modify`", "%%eas modify").replace("`create -r`", "%%eas create -r")


def crash_log_note(message: str, service: str) -> str:
    """``message`` of an instance that exited while serving the call (the kernel's 502)
    with where to read what it printed before, in the notebook's terms: the kernel names
    the CLI's `easlab logs NAME` (an older kernel no log), and the magic that shows it is
    one the user may not know yet."""
    if "while processing this request" not in message:
        return message
    if "logs" in message:
        return notebook_terms(message)
    return f"{message} (what it printed before it exited is in its log: %eas logs {service})"


def escape(text: Any) -> str:
    return html.escape(str(text), quote=True)


def mask_token(token: str | None) -> str:
    """``••••••••c3f9``: enough to tell tokens apart, not enough to use one."""
    if not token:
        return "(none)"
    tail = token[-4:] if len(token) > 8 else ""
    return "•" * 8 + tail


def token_html(token: str | None, show: bool = False) -> str:
    """The token masked, and where to read it. Not in the HTML at all, even folded
    away: a cell's output is page source, and is saved with the notebook."""
    if not token:
        return "<i>(none)</i>"
    if show:
        return f"<code>{escape(token)}</code>"
    return (
        f"<code>{escape(mask_token(token))}</code> <small>(masked; "
        "<code>%config EasMagic.show_token = True</code> shows tokens)</small>"
    )


def png_img(png: bytes, alt: str = "plot") -> str:
    data = base64.b64encode(png).decode("ascii")
    return f"<img alt='{escape(alt)}' src='data:image/png;base64,{data}'/>"


class ErrorLine:
    """One red line for a failed magic: the message, no traceback."""

    def __init__(self, message: str) -> None:
        # keep it to one line: the first line says what went wrong
        self.message = " ".join(str(message).split())

    def __repr__(self) -> str:
        return f"easlab error: {self.message}"

    def _repr_html_(self) -> str:
        return (
            f"<div style='color:{_RED};font-family:monospace'>"
            f"✖ easlab error: {escape(self.message)}</div>"
        )


def _get(desc: Any, name: str, default: Any = None) -> Any:
    if isinstance(desc, Mapping):
        return desc.get(name, default)
    return getattr(desc, name, default)


def _region(desc: Any) -> str:
    """Where the service runs: PAI-EAS's region (the description's own field), else the
    region its service.json names, else ``local``."""
    spec = _get(desc, "spec", None) or {}
    metadata = spec.get("metadata") if isinstance(spec, Mapping) else None
    return str(
        _get(desc, "region", None)
        or (metadata.get("region") if isinstance(metadata, Mapping) else None)
        or "local"
    )


class ServiceSummary:
    """A service's essentials: name, status, endpoint, token (masked), instances, GPU."""

    def __init__(self, desc: Any, show_token: bool = False, title: str = "") -> None:
        self.desc = desc
        self.show_token = show_token
        self.title = title

    def rows(self) -> list[tuple[str, str]]:
        d = self.desc
        running = _get(d, "running_instance", 0)
        total = _get(d, "total_instance", 0)
        gpu = _get(d, "gpu", 0) or 0
        rows = [
            ("name", str(_get(d, "name", ""))),
            ("status", str(_get(d, "status", ""))),
            ("endpoint", str(_get(d, "endpoint", ""))),
            ("url", str(_get(d, "url", ""))),
            ("token", "TOKEN"),
            ("instances", f"{running}/{total} running"),
            ("processor", str(_get(d, "processor", "") or "")),
            ("request format", str(_get(d, "request_format", "") or "-")),
            ("GPU", f"{gpu}" + (" (CPU fallback)" if _get(d, "cpu_fallback", False) else "")),
            ("CPU", str(_get(d, "cpu", None) if _get(d, "cpu", None) is not None else "-")),
            ("memory", f"{_get(d, 'memory', None)}M" if _get(d, "memory", None) else "-"),
            ("region", _region(d)),
            ("version", f"{_get(d, 'current_version', '')}/{_get(d, 'latest_version', '')}"),
            ("weight", f"{_get(d, 'weight', 100)}%"),
            ("created", str(_get(d, "create_time", "") or "")),
            ("updated", str(_get(d, "update_time", "") or "")),
        ]
        traffic = _get(d, "traffic", None)
        if traffic:
            rows.append(("traffic", ", ".join(f"{k}: {v}%" for k, v in traffic.items())))
        message = _get(d, "message", "")
        if message:
            rows.append(("message", str(message)))
        for warning in _get(d, "warnings", None) or []:
            rows.append(("warning", str(warning)))
        return rows

    def __repr__(self) -> str:
        token = _get(self.desc, "token", "")
        shown = token if self.show_token else mask_token(token)
        lines = [self.title] if self.title else []
        for key, value in self.rows():
            lines.append(f"{key:>15}: {shown if key == 'token' else value}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        token = _get(self.desc, "token", "")
        status = str(_get(self.desc, "status", ""))
        colour = {"Running": "#1e7d32", "Failed": _RED}.get(status, "#8a6d00")
        cells = []
        for key, value in self.rows():
            if key == "token":
                shown = token_html(token, self.show_token)
            elif key == "status":
                shown = f"<b style='color:{colour}'>{escape(value)}</b>"
            elif key in ("endpoint", "url"):
                shown = f"<code>{escape(value)}</code>"
            elif key == "warning":
                shown = f"<span style='color:#8a6d00'>{escape(value)}</span>"
            else:
                shown = escape(value)
            cells.append(
                f"<tr><th style='text-align:right'>{escape(key)}</th>"
                f"<td style='text-align:left'>{shown}</td></tr>"
            )
        title = f"<b>{escape(self.title)}</b>" if self.title else ""
        return f"<div class='easlab-service'>{title}<table>{''.join(cells)}</table></div>"


def array_html(name: str, arr: Any, max_rows: int = 8, max_cols: int = 8) -> str:
    """An output tensor as ``name  dtype[shape]`` plus a small table of its leading values."""
    import numpy as np

    a = np.asarray(arr)
    head = f"<code>{escape(name)}</code> <small>{escape(a.dtype)}{list(a.shape)}</small>"
    note = nonfinite_note(a)
    if note:
        head += f" <b style='color:#b3261e'>{escape(note)}</b>"
    if a.size == 0:
        return head + " <i>(empty)</i>"
    if a.ndim <= 2 and a.dtype.kind in "biufc":
        view = a.reshape(1, -1) if a.ndim <= 1 else a
        rows = view[:max_rows, :max_cols]
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(_fmt(v))}</td>" for v in row) + "</tr>" for row in rows
        )
        more = ""
        if view.shape[0] > max_rows or view.shape[1] > max_cols:
            more = f"<small>showing {rows.shape[0]}×{rows.shape[1]} of {view.shape[0]}×{view.shape[1]}</small>"
        return f"{head}<table>{body}</table>{more}"
    text = np.array2string(a, threshold=64, edgeitems=3, max_line_width=100)
    return f"{head}<pre>{escape(text)}</pre>"


def nonfinite_note(arr: Any) -> str:
    """``(all NaN)``, ``(3 NaN, 1 inf of 600 values)``, or ``""`` for an array without
    NaN or infinity (or not of floats). The table shows only an output's first values,
    and a model fed unscaled inputs answers NaN without an error: said beside the shape."""
    import numpy as np

    a = np.asarray(arr)
    if a.dtype.kind not in "fc" or a.size == 0:
        return ""
    nan = int(np.isnan(a).sum())
    inf = int(np.isinf(a).sum())
    if not nan and not inf:
        return ""
    if nan == a.size:
        return "(all NaN)"
    parts = [f"{nan:,} NaN" if nan else "", f"{inf:,} inf" if inf else ""]
    return f"({', '.join(p for p in parts if p)} of {a.size:,} values)"


def _fmt(value: Any) -> str:
    if isinstance(value, float) or type(value).__name__.startswith("float"):
        return f"{float(value):.6g}"
    return str(value)


#: the most characters of a text answer an HTML rendering shows: it is page source in the
#: browser (and saved with the notebook), and megabytes of it stall the page
TEXT_CHARS = 10_000


def cut_text(text: str, whole: str = "") -> str:
    """``text``'s first ``TEXT_CHARS`` characters, then how many more there are (and
    ``whole``, e.g. the byte count, in the note)."""
    if len(text) <= TEXT_CHARS:
        return text
    rest = len(text) - TEXT_CHARS
    return f"{text[:TEXT_CHARS]}\n… {rest:,} more characters{f' ({whole})' if whole else ''}"


def value_html(value: Any) -> str:
    """A decoded response body: arrays as tables, DataFrames as HTML, JSON pretty, bytes as hex;
    a long text or JSON is cut (``cut_text``): the value itself keeps all of it."""
    if isinstance(value, dict) and value and all(hasattr(v, "dtype") for v in value.values()):
        return "".join(f"<div>{array_html(k, v)}</div>" for k, v in value.items())
    if hasattr(value, "to_html") and hasattr(value, "columns"):
        return str(value.to_html(max_rows=20, border=0))
    if isinstance(value, (bytes, bytearray)):
        return f"<pre>{escape(hexdump(bytes(value)))}</pre>"
    if isinstance(value, (dict, list)):
        value = json.dumps(value, indent=2, ensure_ascii=False)
    return f"<pre>{escape(cut_text(str(value)))}</pre>"


def hexdump(data: bytes, limit: int = 512) -> str:
    """``xxd``-style lines: offset, 16 hex bytes, printable ASCII."""
    lines = []
    for offset in range(0, min(len(data), limit), 16):
        chunk = data[offset : offset + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {hexes:<47}  {text}")
    if len(data) > limit:
        lines.append(f"… {len(data) - limit} more bytes")
    return "\n".join(lines)


class ServiceDescription(dict):  # type: ignore[type-arg]
    """A service's description: the control API's dict, shown as a ``ServiceSummary``."""

    def __init__(self, desc: dict[str, Any], show_token: bool = False, title: str = "") -> None:
        super().__init__(desc)
        self.summary = ServiceSummary(dict(desc), show_token, title)

    def __repr__(self) -> str:
        return repr(self.summary)

    def _repr_html_(self) -> str:
        return self.summary._repr_html_()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self.summary))

"""The debug widget: ``easlab.debug(service)`` / ``%eas debug SERVICE``.

The console's online-debug page, in the notebook: endpoint and token, a body
editor built from the service signature, Send, then the full exchange, latency
split, history and "copy as" snippets. Built from small ipywidgets pieces whose
state lives in traitlets; every decision is made by ``DebugSession``
(``widget_session.py``), which tests drive without a browser.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w
import traitlets

from easlab.notebook.display import escape, mask_token, value_html
from easlab.notebook.widget_session import DebugSession, InputField

__all__ = ["debug", "DebugWidget", "DebugSession", "TokenBox", "InputRow"]

_MONO = "font-family:monospace;font-size:12px;white-space:pre-wrap;margin:0"


def _pre(text: str) -> str:
    return f"<pre style='{_MONO}'>{escape(text)}</pre>"


class TokenBox(w.HBox):
    """The token, masked until the eye is toggled."""

    token = traitlets.Unicode("")
    revealed = traitlets.Bool(False)

    def __init__(self, token: str | None) -> None:
        self.text = w.HTML()
        self.toggle = w.ToggleButton(
            value=False, description="show", icon="eye", layout=w.Layout(width="80px")
        )
        super().__init__([w.HTML("<b>token</b>&nbsp;"), self.text, self.toggle])
        traitlets.link((self.toggle, "value"), (self, "revealed"))
        self.observe(self._render, names=["token", "revealed"])
        self.token = token or ""
        self._render()

    def _render(self, _change: Any = None) -> None:
        shown = self.token if self.revealed else mask_token(self.token)
        self.text.value = f"<code>{escape(shown)}</code>"
        self.toggle.description = "hide" if self.revealed else "show"


class InputRow(w.HBox):
    """One signature input: name, dtype and shape; fill from a notebook array or random data."""

    filled = traitlets.Unicode("")  # where the current value came from

    def __init__(self, session: DebugSession, field: InputField) -> None:
        self.session = session
        self.field = field
        self.source = w.Dropdown(options=self._options(), layout=w.Layout(width="200px"))
        self.fill_button = w.Button(description="fill", layout=w.Layout(width="60px"))
        self.preview = w.HTML()
        self.fill_button.on_click(self.fill)
        super().__init__(
            [
                w.HTML(f"<code>{escape(field.label)}</code>", layout=w.Layout(width="260px")),
                self.source,
                self.fill_button,
                self.preview,
            ]
        )

    def _options(self) -> list[str]:
        return ["random data"] + [f"variable {v}" for v in self.session.candidates(self.field.name)]

    def refresh_options(self) -> None:
        self.source.options = self._options()

    def fill(self, _button: Any = None) -> None:
        choice = self.source.value or "random data"
        if choice.startswith("variable "):
            self.session.fill_from(self.field.name, choice[len("variable ") :])
        else:
            self.session.fill_random(self.field.name)
        self.filled = self.field.source
        v = self.field.value
        self.preview.value = (
            f"<small>{escape(v.dtype)}{list(v.shape)} from {escape(self.filled)}</small>"
        )


class BodyEditor(w.VBox):
    """A form with one row per input for tensor services, a text area for the others."""

    def __init__(self, session: DebugSession) -> None:
        self.session = session
        self.rows = [InputRow(session, f) for f in session.fields]
        self.raw = w.Textarea(
            placeholder="request body: JSON or text", layout=w.Layout(width="100%", height="120px")
        )
        if self.rows:
            title = f"<b>inputs</b> <small>({session.format} signature)</small>"
            children: list[Any] = [w.HTML(title), *self.rows]
        else:
            children = [w.HTML("<b>body</b> <small>(sent as written)</small>"), self.raw]
        super().__init__(children)

    def sync(self) -> None:
        """Copy the editor's state into the session before a send."""
        if not self.rows:
            self.session.raw_text = self.raw.value
        for row in self.rows:
            if row.field.value is None:
                row.fill()


class DebugWidget(w.VBox):
    """Endpoint, token, body editor, Send, and the exchange panes (request, response, ...)."""

    status = traitlets.Unicode("")
    calls = traitlets.Int(0)

    def __init__(self, session: DebugSession) -> None:
        self.session = session
        t = session.target
        self.token_box = TokenBox(t.token)
        self.editor = BodyEditor(session)
        self.send_button = w.Button(description="Send", button_style="primary", icon="paper-plane")
        self.status_line = w.HTML()
        self.request_pane = w.HTML()
        self.response_pane = w.HTML()
        self.decoded_pane = w.HTML()
        self.latency_pane = w.HTML()
        self.history_pane = w.HTML()
        self.snippet = w.Textarea(layout=w.Layout(width="100%", height="180px"))
        self.copy_buttons = {
            "curl": w.Button(description="curl"),
            "easlab": w.Button(description="Python (easlab)"),
            "official": w.Button(description="Python (eas_prediction)"),
        }
        for kind, button in self.copy_buttons.items():
            button.on_click(lambda _b, kind=kind: self.copy_as(kind))
        self.send_button.on_click(self._on_send)
        self.observe(self._render_status, names=["status"])
        if t.signature_error is not None:
            self.status = (
                f"<span style='color:#b3261e'>✖ cannot read the signature: "
                f"{escape(t.signature_error)}; the body is sent as written</span>"
            )

        self.tabs = w.Tab(
            [
                self.request_pane,
                w.VBox([self.response_pane, self.decoded_pane]),
                self.latency_pane,
                self.history_pane,
                w.VBox([w.HBox(list(self.copy_buttons.values())), self.snippet]),
            ]
        )
        for i, title in enumerate(["Request", "Response", "Latency", "History", "Copy as"]):
            self.tabs.set_title(i, title)
        header = w.HTML(f"<b>{escape(t.service_name)}</b> <code>POST {escape(t.url)}</code>")
        super().__init__(
            [
                header,
                self.token_box,
                self.editor,
                w.HBox([self.send_button, self.status_line]),
                self.tabs,
            ]
        )

    def _render_status(self, _change: Any = None) -> None:
        self.status_line.value = self.status

    def _on_send(self, _button: Any = None) -> None:
        """The Send button: build, send, and fill every pane (errors show in the status line)."""
        from easlab.errors import EaslabError

        try:
            self.editor.sync()
            record = self.session.send()
        except (EaslabError, ValueError) as exc:
            self.status = f"<span style='color:#b3261e'>✖ {escape(exc)}</span>"
            return
        self.calls = len(self.session.history)
        show = self.token_box.revealed
        self.request_pane.value = _pre(self.session.request_text(record, show_token=show))
        self.response_pane.value = _pre(self.session.response_text(record))
        self.decoded_pane.value = value_html(record.value) if record.status == 200 else ""
        self.latency_pane.value = _latency_html(record)
        self.history_pane.value = self.session.history_df().to_html(index=False, border=0)
        colour = "#1e7d32" if record.status == 200 else "#b3261e"
        self.status = (
            f"<b style='color:{colour}'>HTTP {record.status or 'error'}</b> "
            f"in {record.total_ms:.2f} ms"
        )
        self.tabs.selected_index = 1

    def copy_as(self, kind: str) -> str:
        """Fill the snippet box with ``curl``, ``easlab`` or ``official`` code; return it."""
        makers = {
            "curl": self.session.curl,
            "easlab": self.session.python_easlab,
            "official": self.session.python_official,
        }
        try:
            self.snippet.value = makers[kind]()
        except (ValueError, KeyError) as exc:
            self.snippet.value = f"# cannot build the snippet: {exc}"
        self.tabs.selected_index = 4
        return self.snippet.value


def _latency_html(record: Any) -> str:
    parts = [
        ("serialize", record.serialize_ms, "#6a8caf"),
        ("network + server", record.network_ms, "#3d7ab8"),
        ("deserialize", record.deserialize_ms, "#9bbad6"),
    ]
    total = max(record.total_ms, 1e-9)
    bar = "".join(
        f"<div title='{name}' style='display:inline-block;height:14px;background:{c};"
        f"width:{max(1.0, 300 * ms / total):.0f}px'></div>"
        for name, ms, c in parts
    )
    t = record.timing
    rows = "".join(
        f"<tr><td>{n}</td><td style='text-align:right'>{ms:.3f} ms</td></tr>" for n, ms, _ in parts
    )
    rows += (
        f"<tr><td>&nbsp;&nbsp;send / first byte / read</td><td style='text-align:right'>"
        f"{t.send_ms:.3f} / {t.first_byte_ms:.3f} / {t.read_ms:.3f} ms</td></tr>"
    )
    rows += f"<tr><th>total</th><th style='text-align:right'>{record.total_ms:.3f} ms</th></tr>"
    return f"<div>{bar}</div><table>{rows}</table>"


def debug(
    service_or_endpoint: Any,
    token: str | None = None,
    namespace: dict[str, Any] | None = None,
) -> DebugWidget:
    """The interactive debug widget for a service.

    ``service_or_endpoint``: a ``Service``, a service name on the local kernel,
    or a prediction URL (then give ``token``). ``namespace`` offers arrays to
    fill inputs from (default: the notebook's variables).

    >>> easlab.debug(svc)   # doctest: +SKIP
    """
    if namespace is None:
        from IPython import get_ipython

        shell = get_ipython()
        namespace = shell.user_ns if shell is not None else {}
    from easlab.notebook._target import resolve
    from easlab.notebook.aiges_debug import AigesDebugSession, aiges_widget, fetch_schema

    target = resolve(service_or_endpoint, token)
    schema = fetch_schema(target)  # an aiges service answers its webgate schema on GET
    if schema is not None:
        return aiges_widget(AigesDebugSession(target, schema))  # type: ignore[no-any-return]
    return DebugWidget(DebugSession(service_or_endpoint, token=token, namespace=namespace))

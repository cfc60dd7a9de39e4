"""The aiges debug form as ipywidgets: the schema's controls, Send, the decoded answer.

Its token field, "kernel is not running" banner and "Copy as" buttons are the
generic debug widget's pieces (widget.py); the logic is ``AigesDebugSession``'s.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w
import traitlets

from easlab.notebook.aiges_debug import AigesDebugSession, Control
from easlab.notebook.display import cut_text, escape
from easlab.notebook.widget import CopyAsPane, KernelBanner, TokenBox

__all__ = ["AigesDebugWidget"]

_OK, _ERR = "#1e7d32", "#b3261e"


def _control_widget(c: Control) -> Any:
    desc = c.key + (" *" if c.required else "")
    if c.kind == "dropdown":
        return w.Dropdown(options=list(c.options), value=c.default, description=desc)
    if c.kind == "integer":
        return w.IntText(value=c.default or 0, description=desc)
    if c.kind == "number":
        return w.FloatText(value=c.default or 0, description=desc)
    if c.kind == "checkbox":
        return w.Checkbox(value=bool(c.default), description=desc)
    if c.kind == "file":
        return w.FileUpload(accept=f"{c.data_type}/*", multiple=False, description=desc)
    if c.kind == "textarea":
        return w.Textarea(placeholder=f"{c.key} (text)", description=desc)
    return w.Text(value=c.default or "", description=desc)


class AigesDebugWidget(w.VBox):
    """Title, kernel banner, token, the schema's controls, Send, status, answer, Copy as."""

    def __init__(self, session: AigesDebugSession) -> None:
        self.session = session
        t = session.target
        self.kernel_banner = KernelBanner(lambda: self.session, self._on_follow)
        self.kernel_banner.button.on_click(self.start_kernel)
        self.token_box = TokenBox(t.token)
        self.token_box.observe(self._on_token, names=["token"])
        #: control key → (Control, its widget)
        self.controls: dict[str, tuple[Control, Any]] = {}
        self.form = w.VBox()
        self.send_button = w.Button(description="Send", button_style="primary", icon="paper-plane")
        self.send_button.on_click(self.send)
        self.status_line = w.HTML()
        self.answer_box = w.VBox()
        self.copy_pane = CopyAsPane(
            {
                "curl": lambda: self.session.curl(*self.values()),
                "easlab": lambda: self.session.python_easlab(*self.values()),
            },
            token_of=lambda: self.session.target.token,
        )
        traitlets.dlink((self.token_box, "revealed"), (self.copy_pane, "revealed"))
        self.copy_buttons = self.copy_pane.buttons
        self._build_form()
        self.title = w.HTML()
        self._render_title()
        super().__init__(
            [
                self.title,
                self.kernel_banner,
                self.token_box,
                self.form,
                w.HBox([self.send_button, self.status_line]),
                self.answer_box,
                w.HTML("<b>Copy as</b>"),
                self.copy_pane,
            ]
        )

    # -- the form ------------------------------------------------------------------------
    def _build_form(self) -> None:
        old = {key: widget.value for key, (c, widget) in self.controls.items() if c.kind != "file"}
        self.controls = {}
        for c in self.session.controls():
            widget = _control_widget(c)
            if c.key in old:
                try:
                    widget.value = old[c.key]  # a value typed survives a new token or kernel
                except Exception:
                    pass
            widget.observe(self.copy_pane.refresh, names=["value"])
            self.controls[c.key] = (c, widget)
        self.form.children = tuple(widget for _, widget in self.controls.values())
        self.copy_pane.refresh()

    def _render_title(self) -> None:
        self.title.value = (
            f"<b>aiges service</b> {escape(self.session.service_id)} — "
            f"<code>POST {escape(self.session.target.url)}</code>"
        )

    def values(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        """The form as (parameters, inputs): what ``AigesDebugSession.send`` takes."""
        values: dict[str, Any] = {}
        inputs: dict[str, bytes] = {}
        for key, (c, widget) in self.controls.items():
            if c.kind == "file":
                files = list(widget.value)
                if files:
                    inputs[key] = bytes(files[0]["content"])
            elif c.kind == "textarea":
                inputs[key] = widget.value.encode("utf-8")
            else:
                values[key] = widget.value
        return values, inputs

    # -- sending -------------------------------------------------------------------------
    def send(self, _button: Any = None) -> tuple[int, dict[str, Any]]:
        """The Send button: post the form, show the status and the decoded outputs."""
        code, answer = self.session.send(*self.values())
        if code == 0 and self.session.kernel_is_down() and self.kernel_banner.follow():
            code, answer = self.session.send(*self.values())
        if code == 0 and self.kernel_banner.shown:
            self.status_line.value = f"<b style='color:{_ERR}'>✖ the kernel is not running</b>"
            self.answer_box.children = ()
            return code, answer
        header = answer.get("header") or {}
        colour = _OK if code == 200 else _ERR
        self.status_line.value = (
            f"<b style='color:{colour}'>HTTP {code or 'error'}</b> "
            f"code {escape(header.get('code'))}: "
            f"{escape(header.get('message', ''))}"
        )
        shown: list[Any] = []
        for key, value in self.session.decoded(answer).items():
            if isinstance(value, str):
                text = cut_text(value)  # the whole text stays in the session's history
                shown.append(w.HTML(f"<b>{escape(key)}</b>: <pre>{escape(text)}</pre>"))
            else:
                shown.append(w.HTML(f"<b>{escape(key)}</b> ({len(value)} bytes)"))
                shown.append(w.Image(value=value))
        self.answer_box.children = tuple(shown)
        self.copy_pane.refresh()
        return code, answer

    # -- the token and the kernel --------------------------------------------------------
    def _on_token(self, change: Any) -> None:
        self.session.set_token(change["new"] or None)
        self._build_form()
        self.status_line.value = f"<span style='color:{_OK}'>✓ token applied</span>"

    def _on_follow(self) -> None:
        self._build_form()
        self._render_title()

    def start_kernel(self, _button: Any = None) -> str:
        """The banner's button: start the local kernel (or find the running one) and follow
        the service there; returns what happened, also shown in the status line."""
        from easlab.errors import EaslabError

        self.status_line.value = "starting the easlab kernel …"
        try:
            note = self.kernel_banner.start()
        except EaslabError as exc:
            self.status_line.value = f"<span style='color:{_ERR}'>✖ {escape(exc)}</span>"
            return str(exc)
        self.status_line.value = escape(note)
        return note

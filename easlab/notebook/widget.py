"""The debug widget: ``easlab.debug(service)`` / ``%eas debug SERVICE``.

The console's online-debug page, in the notebook: endpoint and token, a body
editor built from the service signature, Send, then the full exchange, latency
split, history and "copy as" snippets. Built from small ipywidgets pieces whose
state lives in traitlets; every decision is made by ``DebugSession``
(``widget_session.py``), which tests drive without a browser.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import ipywidgets as w
import traitlets

from easlab.notebook.copy_button import CopyButton
from easlab.notebook.display import escape, value_html
from easlab.notebook.widget_session import DebugSession, InputField

__all__ = [
    "CopyAsPane",
    "DebugSession",
    "DebugWidget",
    "InputRow",
    "KernelBanner",
    "SESSION_UPGRADES",
    "TokenBox",
]

_SNIPPET_LABELS = {
    "curl": "curl",
    "easlab": "Python (easlab)",
    "official": "Python (eas_prediction)",
}
_MONO = "font-family:monospace;font-size:12px;white-space:pre-wrap;margin:0"


def _pre(text: str) -> str:
    return f"<pre style='{_MONO}'>{escape(text)}</pre>"


#: functions that turn a generic session into a kind's own once its signature says so
#: (a token fixed, another kernel); each returns the new session or None.
#: easlab/notebook/seldon_debug.py registers Seldon's.
SESSION_UPGRADES: list[Callable[[Any], Any]] = []


class TokenBox(w.HBox):
    """The token, editable; the token in use stays in Python (``token``).

    The page holds no token: the field starts empty, its placeholder says a token
    is in use and how it ends. Typing another and Enter (or "use token") applies
    it; applying an empty field keeps the token in use. The eye ("show") is the
    one way to see it: the field shows the token in use until "hide" clears it.
    """

    token = traitlets.Unicode("")  # the token in use: changes when the user applies a new one
    revealed = traitlets.Bool(False)

    def __init__(self, token: str | None) -> None:
        layout = w.Layout(width="480px")
        self.hidden = w.Password(continuous_update=False, layout=layout)
        self.plain = w.Text(continuous_update=False, layout=layout)
        traitlets.link((self.hidden, "value"), (self.plain, "value"))
        self.toggle = w.ToggleButton(
            value=False, description="show", icon="eye", layout=w.Layout(width="auto")
        )
        self.apply_button = w.Button(
            description="use token", tooltip="sign the next requests with this token",
            layout=w.Layout(width="auto"),
        )  # fmt: skip
        self.label = w.HTML("<b>token</b>&nbsp;")
        self.note = w.HTML()  # why a typed token was not applied
        super().__init__([self.label, self.hidden, self.toggle, self.apply_button, self.note])
        self._setting_field = False  # the field changed by Python, not typed: apply nothing
        self.token = token or ""
        self._show_token_in_use()
        traitlets.link((self.toggle, "value"), (self, "revealed"))
        self.observe(self._render, names=["revealed"])
        self.observe(self._show_token_in_use, names=["token"])
        # Enter or leaving the field (continuous_update=False), or the button, applies it
        self.hidden.observe(self._on_typed, names=["value"])
        self.apply_button.on_click(self.apply)
        self._render()

    @property
    def value(self) -> str:
        """What the field holds now: typed and not applied yet, or the token while shown."""
        return str(self.hidden.value)

    def apply(self, _change: Any = None) -> None:
        """Make the field's text the token in use (observers of ``token`` re-sign); an empty
        field keeps the token in use. The field then goes back to holding no token."""
        from easlab.notebook._target import check_token

        typed = self.value.strip()
        self.note.value = ""
        if typed:
            try:
                self.token = check_token(typed)
            except ValueError as exc:  # the token in use stays
                self.note.value = f"<small style='color:#b3261e'>✖ {escape(exc)}</small>"
        self._show_token_in_use()

    def _on_typed(self, _change: Any) -> None:
        if not self._setting_field:
            self.apply()

    def _set_field(self, text: str) -> None:
        self._setting_field = True
        try:
            self.hidden.value = text
        finally:
            self._setting_field = False

    def _show_token_in_use(self, _change: Any = None) -> None:
        """The field empty, its placeholder telling the token in use; the token itself
        only while revealed."""
        from easlab.notebook.display import mask_token

        if self.token:
            hint = (
                f"token in use: {mask_token(self.token)} — "
                "type another and press Enter to replace it"
            )
        else:
            hint = "no token — type one and press Enter to use it"
        self.hidden.placeholder = self.plain.placeholder = hint
        self._set_field(self.token if self.revealed else "")

    def _render(self, _change: Any = None) -> None:
        field = self.plain if self.revealed else self.hidden
        self.children = (self.label, field, self.toggle, self.apply_button, self.note)
        self.toggle.description = "hide" if self.revealed else "show"
        self._show_token_in_use()


class InputRow(w.HBox):
    """One signature input: name, dtype and shape; fill from a notebook array or random data."""

    filled = traitlets.Unicode("")  # where the current value came from

    def __init__(self, session: DebugSession, field: InputField) -> None:
        self.session = session
        self.field = field
        # wide enough for a label saying a variable is of another dtype
        self.source = w.Dropdown(options=self._options(), layout=w.Layout(width="300px"))
        self.fill_button = w.Button(description="fill", layout=w.Layout(width="60px"))
        self.preview = w.HTML()
        self.fill_button.on_click(self._on_fill_click)
        # picking a source fills from it: Send sent the value filled before (random data
        # after a first Send), whatever the dropdown had been set to since
        self._refreshing = False
        self.source.observe(self._on_source_change, names="value")
        super().__init__(
            [
                w.HTML(f"<code>{escape(field.label)}</code>", layout=w.Layout(width="260px")),
                self.source,
                self.fill_button,
                self.preview,
            ]
        )

    def _options(self) -> list[tuple[str, str]]:
        """(label, value) pairs: a variable of another dtype than the input's is labelled
        (picking it is refused, as ``%%eas predict`` refuses it)."""
        options = [("random data", "random data")]
        for v in self.session.candidates(self.field.name):
            note = self.session.dtype_note(self.field.name, v)
            label = f"variable {v}" + (f" ({note})" if note else "")
            options.append((label, f"variable {v}"))
        return options

    def refresh_options(self) -> None:
        self._refreshing = True  # a new list of variables is no pick of the user's
        try:
            self.source.options = self._options()
        finally:
            self._refreshing = False

    def _on_source_change(self, _change: Any = None) -> None:
        if not self._refreshing:
            self._on_fill_click()

    def _on_fill_click(self, _button: Any = None) -> None:
        """The fill button: what cannot be filled is said next to it (a click's exception
        would only reach the browser's log)."""
        from easlab.errors import EaslabError

        try:
            self.fill()
        except (EaslabError, ValueError) as exc:
            self.preview.value = f"<small style='color:#b3261e'>✖ {escape(exc)}</small>"

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
            # a variable is read again: Send sends its value now, as the cell would
            if row.field.value is None or row.source.value.startswith("variable "):
                row.fill()


class CopyAsPane(w.VBox):
    """ "Copy as" buttons (curl, Python …) over a text box showing what was copied.

    ``makers`` gives each kind's snippet; ``refresh`` computes them all now, so that
    a click copies the current one, and a kind that cannot be built yet is disabled
    with the reason as its hint. A snippet holds the token (``token_of()``): it stays
    in Python, and what the page holds (each button's ``text``, the text box) has it
    masked, except the box while ``revealed`` (the token box's eye). ``on_shown`` is
    called when a snippet is put in the box (the widget then shows this pane).
    """

    revealed = traitlets.Bool(False)  # the text box shows the token

    def __init__(
        self,
        makers: dict[str, Callable[[], str]],
        on_shown: Callable[[], None] = lambda: None,
        token_of: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.makers = makers
        self.on_shown = on_shown
        self.token_of = token_of
        self.shown_text = ""  # the snippet in the box, token and all (Python only)
        self.snippet = w.Textarea(layout=w.Layout(width="100%", height="180px"))
        self.note = w.HTML()
        self.buttons = {kind: CopyButton(f"Copy as {_SNIPPET_LABELS[kind]}") for kind in makers}
        for kind, button in self.buttons.items():
            button.on_copy(functools.partial(self._on_copied, kind))
        super().__init__([w.HBox(list(self.buttons.values())), self.note, self.snippet])
        self.observe(self._show_snippet, names=["revealed"])

    def masked(self, text: str) -> str:
        """``text`` with the token in use masked."""
        return mask_secret(text, self.token_of())

    def refresh(self, _change: Any = None) -> None:
        """Compute each snippet now, so that a click copies the current one."""
        from easlab.errors import EaslabError

        for kind, button in self.buttons.items():
            try:
                text = self.makers[kind]()
                button.set_text(text, shown=self.masked(text))
                button.disabled, button.hint = False, f"copy the {kind} snippet"
            except (EaslabError, ValueError, KeyError) as exc:
                button.set_text("")
                button.disabled, button.hint = True, f"cannot build it yet: {exc}"

    def _show_snippet(self, _change: Any = None) -> None:
        self.snippet.value = self.shown_text if self.revealed else self.masked(self.shown_text)

    def _on_copied(self, kind: str, button: CopyButton) -> None:
        self.shown_text = button.full_text
        self._show_snippet()
        label = _SNIPPET_LABELS[kind]
        select = "select the text below"
        if self.token_of() and not self.revealed:
            select = "show the token (the eye above), then select the text below"
        self.note.value = (
            f"<small>✓ {escape(label)} copied to the clipboard</small>"
            if button.last_ok
            else f"<small>✖ the browser refused the clipboard: {select}</small>"
        )
        self.on_shown()

    def copy_as(self, kind: str) -> str:
        """Fill the text box with ``kind``'s snippet (no clipboard); return it, token and all."""
        try:
            self.shown_text = self.makers[kind]()
        except (ValueError, KeyError) as exc:
            self.shown_text = f"# cannot build the snippet: {exc}"
        self._show_snippet()
        self.on_shown()
        return self.shown_text


def mask_secret(text: str, secret: str | None) -> str:
    """``text`` with ``secret`` masked (``mask_token``) as a snippet writes it: plainly, in
    a Python or JSON string literal, or in shell single quotes."""
    from easlab.notebook.display import mask_token

    if not secret:
        return text
    written = {
        secret,
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        secret.replace("'", "'\"'\"'"),
    }
    for form in sorted(written, key=len, reverse=True):
        text = text.replace(form, mask_token(secret))
    return text


class KernelBanner(w.HBox):
    """The "kernel is not running" state of a debug widget, with "Start the kernel".

    Shared by every kind of debug widget: ``follow`` (after a refused send) and
    ``start`` (the button) move the widget's session (``session_of()``, a
    ``FollowsKernel``: a widget may swap its session) to the running kernel and
    call ``on_follow`` once the service is found there.
    """

    def __init__(self, session_of: Callable[[], Any], on_follow: Callable[[], None]) -> None:
        self.session_of = session_of
        self.on_follow = on_follow
        self.note = w.HTML()
        self.button = w.Button(
            description="Start the kernel", button_style="warning", icon="play",
            layout=w.Layout(width="auto"),
        )  # fmt: skip
        super().__init__([self.note, self.button], layout=w.Layout(display="none"))

    @property
    def shown(self) -> bool:
        return bool(self.layout.display != "none")

    def show(self, html: str) -> None:
        self.note.value = (
            f"<span style='color:#b3261e'><b>✖ kernel is not running</b> — {html}</span>&nbsp;"
        )
        self.button.disabled = False
        self.layout.display = "flex"

    def hide(self) -> None:
        self.layout.display = "none"
        self.note.value = ""

    def show_refused(self) -> None:
        self.show(
            f"{escape(self.session_of().target.endpoint)} refuses connections: start it, "
            "then create the service again"
        )

    def follow(self) -> bool:
        """After a send the local kernel refused: True when a running kernel has the
        service (the session now points there), else the banner says what is wrong."""
        from easlab.errors import KernelNotRunning

        session = self.session_of()
        try:
            note = session.relocate(start=False)
        except KernelNotRunning:
            self.show(
                f"the easlab kernel is not running ({escape(session.target.endpoint)} "
                "refuses connections): start it, then create the service again"
            )
            return False
        if session.kernel_is_down():  # a kernel runs, but not with this service
            self.show(escape(note))
            return False
        self.hide()
        self.on_follow()
        return True

    def start(self) -> str:
        """Start the local kernel (or find the running one) and follow the service there;
        what happened, in a sentence (``EaslabError`` when the kernel cannot start)."""
        session = self.session_of()
        self.button.disabled = True
        try:
            note = session.relocate(start=True)
        except Exception:
            self.button.disabled = False
            raise
        if session.kernel_is_down():  # started, but without the service yet
            self.show(escape(note))
            self.button.disabled = True
            self.note.value = (
                f"<span style='color:#9a6700'><b>kernel started</b> — {escape(note)}</span>"
            )
            return str(note)
        self.hide()
        self.on_follow()
        return str(note)


class DebugWidget(w.VBox):
    """Endpoint, token, body editor, Send, and the exchange panes (request, response, ...)."""

    status = traitlets.Unicode("")
    calls = traitlets.Int(0)

    def __init__(self, session: DebugSession) -> None:
        self.session = session
        t = session.target
        self.token_box = TokenBox(t.token)
        self.token_box.observe(self._on_token, names=["token"])
        self.editor = self._make_editor()
        self.editor_box = w.VBox([self.editor])
        self.kernel_banner = KernelBanner(lambda: self.session, self._on_follow)
        self.kernel_banner.button.on_click(self.start_kernel)
        self.kernel_note, self.start_button = self.kernel_banner.note, self.kernel_banner.button
        self.send_button = w.Button(description="Send", button_style="primary", icon="paper-plane")
        self.status_line = w.HTML()
        self.request_pane = w.HTML()
        self.response_pane = w.HTML()
        self.decoded_pane = w.HTML()
        self.latency_pane = w.HTML()
        self.history_pane = w.HTML()
        self.copy_pane = CopyAsPane(
            {kind: functools.partial(self._snippet, kind) for kind in _SNIPPET_LABELS},
            on_shown=self._show_copy_tab,
            token_of=lambda: self.session.target.token,
        )
        traitlets.dlink((self.token_box, "revealed"), (self.copy_pane, "revealed"))
        self.token_box.observe(self._show_request, names=["revealed"])
        self.copy_buttons = self.copy_pane.buttons
        self.snippet, self.copy_note = self.copy_pane.snippet, self.copy_pane.note
        self.send_button.on_click(self._on_send)
        self.observe(self._render_status, names=["status"])
        for row in self.editor.rows:
            row.observe(self.refresh_snippets, names=["filled"])
        self.editor.raw.observe(self.refresh_snippets, names=["value"])
        self._show_signature_state()
        self.refresh_snippets()

        self.tabs = w.Tab(
            [
                self.request_pane,
                w.VBox([self.response_pane, self.decoded_pane]),
                self.latency_pane,
                self.history_pane,
                self.copy_pane,
            ]
        )
        for i, title in enumerate(["Request", "Response", "Latency", "History", "Copy as"]):
            self.tabs.set_title(i, title)
        header = w.HTML(f"<b>{escape(t.service_name)}</b> <code>POST {escape(t.url)}</code>")
        super().__init__(
            [
                header,
                self.kernel_banner,
                self.token_box,
                self.editor_box,
                w.HBox([self.send_button, self.status_line]),
                self.tabs,
            ]
        )

    def _make_editor(self) -> BodyEditor:
        """The body editor for the session; a session kind with its own form (Seldon's,
        from /metadata) provides it as ``session.editor()``."""
        own = getattr(self.session, "editor", None)
        return own() if own is not None else BodyEditor(self.session)  # type: ignore[no-any-return]

    def _answer_html(self, record: Any) -> str:
        """The decoded answer under the response (``session.answer_html`` when the kind
        shows more, e.g. Seldon's meta)."""
        own = getattr(self.session, "answer_html", None)
        if record.decode_error is not None:
            return ""  # said in the status line; the bytes are in the response pane
        if own is not None:
            return own(record)  # type: ignore[no-any-return]
        return value_html(record.value) if record.status == 200 else ""

    def _follow_format(self) -> None:
        """A signature read only now (a new token, another kernel) that says ``seldon``:
        the session becomes a Seldon one (form from /metadata), history kept."""
        for upgrade in SESSION_UPGRADES:
            new = upgrade(self.session)
            if new is not None:
                new.history = self.session.history
                self.session = new
                return

    def _render_status(self, _change: Any = None) -> None:
        self.status_line.value = self.status

    def _on_send(self, _button: Any = None) -> None:
        """The Send button: build, send, and fill every pane (errors show in the status line)."""
        from easlab.errors import EaslabError

        try:
            self.editor.sync()
            record = self.session.send()
            if record.response is None and self.session.kernel_is_down():
                record = self._follow_kernel(record)
        except (EaslabError, ValueError) as exc:
            self.status = f"<span style='color:#b3261e'>✖ {escape(exc)}</span>"
            # the panes held the previous exchange: under a refused Send its answer read
            # as this one's (a float64 input refused, the last answer's NaN still shown)
            note = (
                "<i>nothing was sent: this Send was refused before sending (the red line "
                "above says why); earlier calls are in History</i>"
            )
            self.request_pane.value = self.response_pane.value = note
            self.decoded_pane.value = self.latency_pane.value = ""
            return
        self.calls = len(self.session.history)
        self._show_request()
        self.response_pane.value = _pre(self.session.response_text(record))
        self.decoded_pane.value = self._answer_html(record)
        self.latency_pane.value = _latency_html(record)
        self.history_pane.value = self.session.history_df().to_html(index=False, border=0)
        colour = "#1e7d32" if record.status == 200 else "#b3261e"
        self.status = (
            f"<b style='color:{colour}'>HTTP {record.status or 'error'}</b> "
            f"in {record.total_ms:.2f} ms"
        )
        if record.decode_error is not None:  # the raw answer is in the Response tab
            self.status += f" <span style='color:#b3261e'>✖ {escape(record.decode_error)}</span>"
        if record.response is None and self.kernel_banner.shown:
            self.status = "<b style='color:#b3261e'>✖ the kernel is not running</b>"
        self.refresh_snippets()
        self.tabs.selected_index = 1

    def _show_request(self, _change: Any = None) -> None:
        """The last request, its token shown only while the token box is revealed."""
        record = self.session.last
        if record is not None:
            show = self.token_box.revealed
            self.request_pane.value = _pre(self.session.request_text(record, show_token=show))

    # -- the kernel -------------------------------------------------------------------------
    def _follow_kernel(self, record: Any) -> Any:
        """The local kernel refused: if a running kernel has the service, send there again;
        else show the "kernel is not running" banner. Returns the record to show."""
        return self.session.send() if self.kernel_banner.follow() else record

    def _on_follow(self) -> None:
        """The session now points at the service on a running kernel."""
        self._follow_format()
        self._after_target_change()

    def start_kernel(self, _button: Any = None) -> str:
        """The banner's button: start the local kernel (or find the running one), then
        follow the service there; returns what happened, also shown in the status line."""
        from easlab.errors import EaslabError

        self.status = "starting the easlab kernel …"
        try:
            note = self.kernel_banner.start()
        except EaslabError as exc:
            self.status = f"<span style='color:#b3261e'>✖ {escape(exc)}</span>"
            return str(exc)
        self.status = escape(note)
        return note

    # -- the token --------------------------------------------------------------------------
    def _on_token(self, change: Any) -> None:
        """A new token: re-sign from now on, reread the signature, rebuild the form."""
        self.session.set_token(change["new"] or None)
        self._follow_format()
        self._after_target_change()
        if self.session.target.signature_error is None:
            self.status = "<span style='color:#1e7d32'>✓ token applied</span>"

    def _after_target_change(self) -> None:
        text = self.editor.raw.value
        self.editor = self._make_editor()
        self.editor.raw.value = text  # a text body survives a new token or kernel
        for row in self.editor.rows:
            row.observe(self.refresh_snippets, names=["filled"])
        self.editor.raw.observe(self.refresh_snippets, names=["value"])
        self.editor_box.children = (self.editor,)
        self._show_signature_state()
        self.refresh_snippets()

    def _show_signature_state(self) -> None:
        error = self.session.target.signature_error
        problem = getattr(self.session, "signature_problem", None)
        if error is None and problem is not None:
            self.status = (
                f"<span style='color:#9a6700'>⚠ {escape(problem)}; the body is sent as "
                "written</span>"
            )
        if error is None:
            return
        if self.session.kernel_is_down():
            self.kernel_banner.show_refused()
            return
        hint = ""
        if getattr(error, "status", None) in (401, 403) or "401" in str(error):
            hint = " — the token is wrong: fix it in the token field above and press Enter"
        self.status = (
            f"<span style='color:#b3261e'>✖ cannot read the signature: "
            f"{escape(error)}{hint}; meanwhile the body is sent as written</span>"
        )

    # -- copy as ----------------------------------------------------------------------------
    def _snippet(self, kind: str) -> str:
        makers = {
            "curl": self.session.curl,
            "easlab": self.session.python_easlab,
            "official": self.session.python_official,
        }
        if not self.editor.rows:
            self.session.raw_text = self.editor.raw.value
        return makers[kind]()

    def refresh_snippets(self, _change: Any = None) -> None:
        """Compute each "copy as" text now, so that a click can put it on the clipboard."""
        self.copy_pane.refresh()

    def _show_copy_tab(self) -> None:
        self.tabs.selected_index = 4

    def copy_as(self, kind: str) -> str:
        """Fill the snippet box with ``curl``, ``easlab`` or ``official`` code; return it.

        (Clicking a "Copy as" button does this and also puts it on the clipboard.)
        """
        return self.copy_pane.copy_as(kind)


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

"""A button that puts a text on the clipboard: the debug widget's "Copy as".

The text to copy holds a secret (a snippet carries the service token), so it
stays in Python (``full_text``): what the page holds (``text``, synced, shown on
hover) has the secret masked, and a saved notebook's widget state never has it.
On a click the front end (an anywidget ES module, below) asks Python for the
text (``{"event": "want", "id": …}``), Python answers with a custom message
(``{"event": "text", "id": …, "text": …}``), and the module writes it:

- ``navigator.clipboard.write`` with a ``ClipboardItem`` whose blob is a promise
  of the answer, where the browser has ``ClipboardItem`` (Chrome, Safari): the
  write starts inside the click, which browsers require, and ends when the
  answer comes;
- else ``navigator.clipboard.writeText`` once the answer came;
- else ``document.execCommand("copy")``, where the page is not a secure context
  (a lab served over plain http from another host).

The front end then tells Python (``{"event": "copied", "ok": …}``), which counts
it and calls ``on_copy`` callbacks. Tests click with ``simulate_click``, which
goes through the same answer, without a browser.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anywidget
import traitlets

__all__ = ["CopyButton"]

_ESM = """
function copyWithSelection(text) {
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
  area.remove();
  return ok;
}

// The text to copy, from Python: this view's own request (several views may show the model).
function askPython(model) {
  const id = `${Date.now()}-${Math.random()}`;
  return new Promise((resolve, reject) => {
    const onAnswer = (msg) => {
      if (!msg || msg.event !== "text" || msg.id !== id) return;
      model.off("msg:custom", onAnswer);
      clearTimeout(timer);
      resolve(msg.text);
    };
    const timer = setTimeout(() => {
      model.off("msg:custom", onAnswer);
      reject(new Error("the kernel did not answer"));
    }, 10000);
    model.on("msg:custom", onAnswer);
    model.send({ event: "want", id });
  });
}

// Called in the click handler before any await: the clipboard write starts within the click.
async function copy(textPromise) {
  if (navigator.clipboard && window.isSecureContext) {
    if (window.ClipboardItem && navigator.clipboard.write) {
      try {
        const blob = textPromise.then((text) => new Blob([text], { type: "text/plain" }));
        await navigator.clipboard.write([new ClipboardItem({ "text/plain": blob })]);
        return true;
      } catch (e) { /* below */ }
    }
    try {
      await navigator.clipboard.writeText(await textPromise);
      return true;
    } catch (e) { /* below */ }
  }
  try { return copyWithSelection(await textPromise); } catch (e) { return false; }
}

function render({ model, el }) {
  const button = document.createElement("button");
  button.className = "jupyter-widgets jupyter-button widget-button easlab-copy";
  button.style.width = "auto";
  button.style.padding = "0 12px";
  let flash = null;
  const paint = () => {
    button.textContent = flash ?? model.get("label");
    button.disabled = model.get("disabled");
    const text = model.get("text");  // the secret in it is masked
    const preview = text.length > 400 ? text.slice(0, 400) + " …" : text;
    button.title = preview ? `${model.get("hint")}\\n\\n${preview}` : model.get("hint");
  };
  button.addEventListener("click", async () => {
    const answer = askPython(model);
    answer.catch(() => {});  // no answer is reported below, as not copied
    const ok = await copy(answer);
    model.send({ event: "copied", ok });
    flash = ok ? "✓ copied" : "✖ not copied: select the text below";
    paint();
    setTimeout(() => { flash = null; paint(); }, 1500);
  });
  model.on("change:label", paint);
  model.on("change:disabled", paint);
  model.on("change:hint", paint);
  model.on("change:text", paint);
  paint();
  el.appendChild(button);
}

export default { render };
"""


class CopyButton(anywidget.AnyWidget):  # type: ignore[misc]
    """A button labelled ``label`` that copies ``full_text`` to the clipboard when clicked.

    ``full_text`` stays in Python until a click asks for it; the page has ``text``,
    the same with its secret masked (``set_text``).
    """

    _esm = _ESM
    _css = ".easlab-copy { white-space: nowrap; }"
    label = traitlets.Unicode("Copy").tag(sync=True)
    text = traitlets.Unicode("").tag(sync=True)  # what the page may hold: the secret masked
    full_text = traitlets.Unicode("")  # what a click copies: sent to the page only then
    disabled = traitlets.Bool(False).tag(sync=True)
    hint = traitlets.Unicode("").tag(sync=True)  # shown on hover
    copies = traitlets.Int(0)  # clicks the browser reported, copied or not
    last_ok = traitlets.Bool(False)  # whether the last click reached the clipboard

    def __init__(self, label: str, **kwargs: Any) -> None:
        super().__init__(label=label, **kwargs)
        if "full_text" not in kwargs:  # a text with no secret: the page may hold all of it
            self.full_text = self.text
        self._callbacks: list[Callable[[CopyButton], None]] = []
        self.on_msg(self._on_front_end_msg)

    def set_text(self, full_text: str, shown: str | None = None) -> None:
        """Copy ``full_text`` on a click; the page holds ``shown`` (``full_text`` with its
        secret masked), or all of it when there is no secret."""
        self.full_text = full_text
        self.text = full_text if shown is None else shown

    def on_copy(self, callback: Callable[[CopyButton], None]) -> None:
        """Call ``callback(button)`` after each click (``last_ok`` says if it was copied)."""
        self._callbacks.append(callback)

    def answer(self, content: dict[str, Any]) -> dict[str, Any]:
        """Python's answer to a click's ``want``: the text to copy, for that request only."""
        return {"event": "text", "id": content.get("id"), "text": self.full_text}

    def _on_front_end_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        if content.get("event") == "want":
            self.send(self.answer(content))
        elif content.get("event") == "copied":
            self.last_ok = bool(content.get("ok"))
            self.copies += 1
            for callback in self._callbacks:
                callback(self)

    def simulate_click(self, ok: bool = True) -> str:
        """What a click does, for tests and scripts: ask Python for the text (the answer the
        page gets), then report the copy (``ok``); returns the text the page would copy."""
        want = {"event": "want", "id": "simulated"}
        self._on_front_end_msg(self, want, [])
        text = str(self.answer(want)["text"])
        self._on_front_end_msg(self, {"event": "copied", "ok": ok}, [])
        return text

"""A button that puts a text on the clipboard: the debug widget's "Copy as".

Browsers only let page script write the clipboard during a click, so the text
is computed beforehand (``text``) and the front end (an anywidget ES module,
below) writes it in the click handler: ``navigator.clipboard.writeText``, or
``document.execCommand("copy")`` where the page is not a secure context (a lab
served over plain http from another host). The front end then tells Python
(``{"event": "copied", "ok": …}``), which counts it and calls ``on_copy``
callbacks; tests send that message themselves, without a browser.
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

async function copy(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try { await navigator.clipboard.writeText(text); return true; } catch (e) { /* below */ }
  }
  return copyWithSelection(text);
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
    button.title = model.get("hint");
  };
  button.addEventListener("click", async () => {
    const ok = await copy(model.get("text"));
    model.send({ event: "copied", ok });
    flash = ok ? "✓ copied" : "✖ not copied: select the text below";
    paint();
    setTimeout(() => { flash = null; paint(); }, 1500);
  });
  model.on("change:label", paint);
  model.on("change:disabled", paint);
  model.on("change:hint", paint);
  paint();
  el.appendChild(button);
}

export default { render };
"""


class CopyButton(anywidget.AnyWidget):  # type: ignore[misc]
    """A button labelled ``label`` that copies ``text`` to the clipboard when clicked."""

    _esm = _ESM
    _css = ".easlab-copy { white-space: nowrap; }"
    label = traitlets.Unicode("Copy").tag(sync=True)
    text = traitlets.Unicode("").tag(sync=True)
    disabled = traitlets.Bool(False).tag(sync=True)
    hint = traitlets.Unicode("").tag(sync=True)  # shown on hover
    copies = traitlets.Int(0)  # clicks the browser reported, copied or not
    last_ok = traitlets.Bool(False)  # whether the last click reached the clipboard

    def __init__(self, label: str, **kwargs: Any) -> None:
        super().__init__(label=label, **kwargs)
        self._callbacks: list[Callable[[CopyButton], None]] = []
        self.on_msg(self._on_front_end_msg)

    def on_copy(self, callback: Callable[[CopyButton], None]) -> None:
        """Call ``callback(button)`` after each click (``last_ok`` says if it was copied)."""
        self._callbacks.append(callback)

    def _on_front_end_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict) or content.get("event") != "copied":
            return
        self.last_ok = bool(content.get("ok"))
        self.copies += 1
        for callback in self._callbacks:
            callback(self)

    def simulate_click(self, ok: bool = True) -> None:
        """What the front end does on a click, for tests and scripts: report a copy."""
        self._on_front_end_msg(self, {"event": "copied", "ok": ok}, [])

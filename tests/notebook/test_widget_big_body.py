"""A big text answer is cut in the widget's panes (HTML in the browser), not in the record."""

from __future__ import annotations

from easlab.notebook.debug import debug
from easlab.notebook.widget_session import PANE_TEXT_CHARS


def test_a_big_text_answer_is_cut_in_the_pane_and_kept_whole(echo):
    w = debug(echo, namespace={})
    body = "x" * (PANE_TEXT_CHARS * 3)
    w.editor.raw.value = body
    w.send_button.click()
    assert w.session.last.value == "echo:" + body  # the value keeps all of it
    pane = w.response_pane.value
    assert "more characters" in pane and len(pane) < PANE_TEXT_CHARS * 2
    assert f"{len(body) + 5:,} bytes in all" in pane
    assert "more characters" in w.request_pane.value  # the request pane too

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
    # the decoded answer under it is cut the same way
    assert "more characters" in w.decoded_pane.value
    assert len(w.decoded_pane.value) < PANE_TEXT_CHARS * 2


def test_a_big_answer_is_cut_in_the_cell_output_and_kept_whole(echo):
    """``%%eas predict`` shows the record's HTML, saved with the notebook: cut there too."""
    from easlab.notebook._record import call
    from easlab.notebook._target import resolve
    from easlab.notebook.display import value_html

    record = call(resolve(echo), "x" * (PANE_TEXT_CHARS * 3))
    assert record.value == "echo:" + "x" * (PANE_TEXT_CHARS * 3)
    html = record._repr_html_()
    assert "more characters" in html and len(html) < PANE_TEXT_CHARS * 2
    # a JSON answer, pretty-printed, likewise
    html = value_html([list(range(10))] * 2000)
    assert "more characters" in html and len(html) < PANE_TEXT_CHARS * 2

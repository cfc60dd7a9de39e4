"""The debug widget keeps the token out of the page: no synced state holds it (what the
page has, and what "save widget state" writes into the .ipynb), whatever the user did,
unless the token box's eye shows it."""

from __future__ import annotations

import numpy as np
import pytest

from easlab.notebook.debug import debug

from .echo_server import EchoServer
from .widget_state import where_in_page, widgets_under


def test_the_walk_finds_every_widget_even_those_not_shown(echo):
    w = debug(echo, namespace={})
    found = widgets_under(w)
    assert w.token_box.plain in found and w.token_box.hidden in found  # one is not a child
    assert all(b in found for b in w.copy_buttons.values())
    assert w.snippet in found and w.request_pane in found  # inside the Tab


def test_a_tensor_widget_holds_no_token_in_the_page(affine):
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    w = debug(affine, namespace={"x": x})
    token = affine.token
    assert where_in_page(w, token) == []  # created

    row = w.editor.rows[0]
    row.source.value = "variable x"
    row.fill_button.click()
    w.send_button.click()
    assert "HTTP 200" in w.status_line.value
    assert where_in_page(w, token) == []  # sent

    assert token in w.copy_as("curl")  # Python gets the token …
    copied = w.copy_buttons["official"].simulate_click(ok=True)
    assert token in copied  # … and so does the clipboard, on a click
    w.copy_buttons["easlab"].simulate_click(ok=False)
    assert where_in_page(w, token) == []  # copied as

    w.token_box.toggle.value = True  # the eye: an explicit reveal
    shown = where_in_page(w, token)
    assert "Text.value" in shown and "Textarea.value" in shown
    w.token_box.toggle.value = False
    assert where_in_page(w, token) == []  # hidden again
    assert w.session.target.token == token  # hiding applies nothing


def test_a_text_widget_with_a_wrong_token_then_a_typed_one_holds_neither(echo):
    w = debug(echo.url, token="wrong-token-0000", namespace={})
    assert "token is wrong" in w.status_line.value
    assert where_in_page(w, "wrong-token-0000") == []

    w.token_box.hidden.value = echo.token  # typed, then Enter
    assert w.session.target.token == echo.token
    assert w.token_box.value == ""  # the field gives the typed token back to Python
    w.editor.raw.value = "hello"
    w.send_button.click()
    assert "HTTP 200" in w.status_line.value
    w.copy_buttons["curl"].simulate_click(ok=True)
    w.token_box.toggle.value = True
    w.token_box.toggle.value = False
    for token in (echo.token, "wrong-token-0000"):
        assert where_in_page(w, token) == [], token


def test_the_session_target_shown_in_a_cell_has_its_token_masked(echo):
    """``w.session.target`` as a cell's last line is saved with the notebook."""
    w = debug(echo, namespace={})
    shown = repr(w.session.target)
    assert echo.token not in shown
    assert f"token='****{echo.token[-4:]}'" in shown and repr(echo.url) in shown


def test_a_token_no_header_can_carry_is_refused_saying_where_and_never_shown():
    """A token pasted with a curly quote or a line break: refused before anything is sent
    (it was a UnicodeEncodeError traceback from http.client), the token never in the text."""
    with EchoServer() as server:
        with pytest.raises(ValueError, match=r"'€' \(U\+20AC\) at character 4 of 12") as info:
            debug(server.url, token="tok€n-secret", namespace={})
        assert "tok€n-secret" not in str(info.value)

        w = debug(server.url, token=server.token, namespace={})
        w.token_box.hidden.value = "‘pasted-secret’"  # typed, and Enter
        assert "U+2018" in w.token_box.note.value and "pasted-secret" not in w.token_box.note.value
        assert w.token_box.token == server.token  # the token in use stays
        w.editor.raw.value = "still signed"
        w._on_send()
        assert w.session.last is not None and w.session.last.status == 200
        w.token_box.hidden.value = "another-token"
        assert w.token_box.note.value == "" and w.token_box.token == "another-token"


def test_the_target_a_cell_shows_holds_no_token():
    """``w.target`` (or any Target) in a cell shows its repr: the token is not in it."""
    from easlab.notebook._target import resolve

    for target in (
        resolve("http://127.0.0.1:8080/api/predict/echo", token="S3cr3tT0ken"),
        resolve("http://127.0.0.1:8080/api/predict/echo?token=S3cr3tT0ken"),
    ):
        assert target.token == "S3cr3tT0ken"
        assert "S3cr3tT0ken" not in repr(target) and "echo" in repr(target)

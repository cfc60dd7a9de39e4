"""The debug widget's controls, driven without a browser: copy buttons, the token field,
and the "kernel is not running" state (issue 18, item 7)."""

from __future__ import annotations

import subprocess
import tempfile

import numpy as np
import pytest

from easlab.notebook.debug import debug
from easlab.wire.tf import TFResponse

from .conftest import B, W


def _spec(app_dir, name: str) -> dict:
    return {
        "name": name,
        "token": f"{name}-token-0001",
        "processor_type": "python",
        "processor_path": str(app_dir),
        "processor_entry": "app.py",
        "metadata": {"instance": 1},
    }


def test_copy_buttons_have_full_labels_and_copy_what_was_sent(affine):
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    w = debug(affine, namespace={"x": x})
    labels = [b.label for b in w.copy_buttons.values()]
    assert labels == ["Copy as curl", "Copy as Python (easlab)", "Copy as Python (eas_prediction)"]
    # nothing to copy before an input is filled: the buttons say so instead of copying junk
    assert all(b.disabled for b in w.copy_buttons.values())
    assert "fill input" in w.copy_buttons["curl"].hint

    row = w.editor.rows[0]
    row.source.value = "variable x"
    row.fill_button.click()
    assert not any(b.disabled for b in w.copy_buttons.values())
    w.send_button.click()
    curl = w.copy_buttons["curl"]
    # the page holds the command with the token masked; a click gets it whole from Python
    assert curl.full_text == w.session.curl()
    assert affine.token not in curl.text and "••••cdef" in curl.text
    assert curl.text == curl.full_text.replace(affine.token, "••••••••cdef")
    copied = curl.simulate_click(ok=True)  # ask Python for the text, report the copy
    assert copied == w.session.curl()
    assert curl.copies == 1 and w.snippet.value == curl.text  # shown masked
    assert "curl copied to the clipboard" in w.copy_note.value
    assert w.tabs.selected_index == 4
    w.copy_buttons["easlab"].simulate_click(ok=False)
    assert "show the token (the eye above), then select the text below" in w.copy_note.value
    assert "client.predict(" in w.snippet.value and affine.token not in w.snippet.value
    w.token_box.toggle.value = True  # the eye: the text to select, token and all
    assert w.snippet.value == w.session.python_easlab()
    w.token_box.toggle.value = False
    assert affine.token not in w.snippet.value

    # the copied curl runs anywhere: bash, a fresh empty folder, and the same answer
    with tempfile.TemporaryDirectory() as fresh:
        proc = subprocess.run(["bash", "-c", copied], cwd=fresh, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    np.testing.assert_allclose(TFResponse(proc.stdout)["y"], x @ W + B)
    np.testing.assert_allclose(TFResponse(proc.stdout)["y"], w.session.last.value["y"])


def test_text_body_snippet_follows_the_text_area(echo):
    w = debug(echo, namespace={})
    w.editor.raw.value = "hello there"
    assert "'hello there'" in w.copy_buttons["curl"].text
    assert "'hello there'" in w.copy_buttons["curl"].full_text


def test_token_is_an_editable_field_that_holds_no_token(echo):
    w = debug(echo, namespace={})
    box = w.token_box
    assert box.hidden in box.children  # a password field: masked
    assert box.token == echo.token  # the token in use: in Python only
    assert box.value == "" and box.plain.value == ""  # the page holds none
    assert box.hidden.placeholder.startswith("token in use: ••••••••3456 — type another")

    box.toggle.value = True  # the eye: an explicit reveal
    assert box.plain in box.children and box.plain.value == echo.token
    assert box.toggle.description == "hide"
    box.toggle.value = False  # hidden again: cleared, nothing applied
    assert box.hidden in box.children and box.value == "" and box.plain.value == ""
    assert box.token == echo.token and w.session.target.token == echo.token

    box.apply_button.click()  # "use token" on an empty field keeps the token in use
    assert box.token == echo.token and w.session.target.token == echo.token
    box.hidden.value = "   "  # Enter on blanks: the same
    assert box.token == echo.token and box.value == ""


def test_wrong_token_keeps_a_field_to_fix_it_and_the_form_comes_back(affine):
    w = debug(affine.url, token="wrong-token-0000", namespace={})
    # the signature answered 401: no form yet, and the status line says where to fix it
    assert w.editor.rows == []
    assert "token is wrong" in w.status_line.value
    assert w.token_box.token == "wrong-token-0000" and w.token_box.value == ""

    w.token_box.hidden.value = affine.token  # typing the token and pressing Enter
    assert w.session.target.token == affine.token and w.token_box.token == affine.token
    assert w.token_box.value == ""  # applied: the field holds no token again
    assert "••••cdef" in w.token_box.hidden.placeholder
    assert [r.field.name for r in w.editor.rows] == ["x"]
    assert "token applied" in w.status_line.value
    w.editor.rows[0].fill()
    w.send_button.click()
    assert "HTTP 200" in w.status_line.value
    headers = w.session.last.sent.headers
    assert headers["Authorization"].startswith("EAS ")  # signed with the new token
    assert affine.token in w.copy_buttons["curl"].full_text

    w.token_box.hidden.value = "wrong-again-0000"
    w.token_box.apply_button.click()
    w.send_button.click()
    assert "HTTP 401" in w.status_line.value


@pytest.mark.timeout(180)
def test_stopped_kernel_shows_a_start_state_and_follows_the_service(tmp_path, app_dir, monkeypatch):
    from easlab.client.control import KernelClient
    from easlab.client.local import LocalKernel

    first = LocalKernel(port=0, state_dir=tmp_path / "first")
    svc = KernelClient(first.endpoint, admin_token=first.admin_token).create(
        _spec(app_dir, "nb_gone")
    )
    w = debug(svc, namespace={})
    w.editor.raw.value = "one"
    w.send_button.click()
    assert "HTTP 200" in w.status_line.value
    assert w.kernel_banner.layout.display == "none"

    first.stop()  # what a tutorial's clean-up cell used to do
    monkeypatch.delenv("EASLAB_ENDPOINT", raising=False)
    monkeypatch.setenv("EASLAB_HOME", str(tmp_path / "no-kernel-here"))
    w.send_button.click()
    assert "kernel is not running" in w.status_line.value
    assert w.kernel_banner.layout.display == "flex"
    assert "kernel is not running" in w.kernel_note.value
    assert "ConnectionRefused" not in w.status_line.value
    assert w.start_button.description == "Start the kernel"

    # "Start the kernel": here a kernel that runs (EASLAB_ENDPOINT) but starts empty
    second = LocalKernel(port=0, state_dir=tmp_path / "second")
    try:
        monkeypatch.setenv("EASLAB_ENDPOINT", second.endpoint)
        monkeypatch.setenv("EASLAB_ADMIN_TOKEN", second.admin_token)
        note = w.start_kernel()
        assert "no service 'nb_gone'" in note and "run the cell that creates it" in note
        assert "kernel started" in w.kernel_note.value

        # the user reruns the cell that creates the service: Send finds it on the new kernel
        KernelClient(second.endpoint, admin_token=second.admin_token).create(
            _spec(app_dir, "nb_gone")
        )
        w.send_button.click()
        assert "HTTP 200" in w.status_line.value, w.status_line.value
        assert w.session.last.value == "echo:one"
        assert w.kernel_banner.layout.display == "none"
        assert w.session.target.endpoint == second.endpoint
    finally:
        second.stop()

"""The aiges debug form has the generic debug widget's token field, "Copy as" buttons and
"kernel is not running" state (the same pieces: TokenBox, CopyAsPane, KernelBanner)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile

import pytest

import easlab
from easlab.notebook.aiges_widget import AigesDebugWidget
from easlab.notebook.widget import CopyAsPane, KernelBanner, TokenBox
from tests.aiges.conftest import copy_wrapper
from tests.notebook.widget_state import where_in_page

TOKEN = "tok-aiges-widget-0001"


def _spec(folder, name: str) -> dict:
    return {
        "name": name,
        "processor": "aiges",
        "processor_path": str(folder),
        "token": TOKEN,
        "metadata": {"instance": 1},
    }


@pytest.fixture(scope="module")
def echo(kernel, tmp_path_factory):
    folder = copy_wrapper("echo", tmp_path_factory.mktemp("aiges_widget_echo"))
    svc = kernel.create(_spec(folder, "aiges_widget_echo"))
    assert svc.status == "Running", svc.desc.get("message")
    yield svc
    kernel.delete("aiges_widget_echo")


def _fill(box: AigesDebugWidget, text: str = "ABC", case: str = "lower", repeat: int = 2) -> None:
    box.controls["case"][1].value = case
    box.controls["repeat"][1].value = repeat
    box.controls["text"][1].value = text


def _run(command: str) -> bytes:
    """A copied command run as a user pastes it: bash, in an empty folder, no easlab env."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "EASLAB_HOME")}
    with tempfile.TemporaryDirectory(prefix="easlab-curl-") as fresh:
        done = subprocess.run(
            ["bash", "-c", command], capture_output=True, timeout=60, cwd=fresh, env=env
        )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def test_the_form_is_built_from_the_generic_widgets_pieces(echo):
    box = easlab.debug(echo, namespace={})
    assert isinstance(box, AigesDebugWidget)
    assert isinstance(box.token_box, TokenBox)
    assert isinstance(box.copy_pane, CopyAsPane) and isinstance(box.kernel_banner, KernelBanner)
    assert not box.kernel_banner.shown
    _fill(box)
    code, answer = box.send()
    assert code == 200 and box.session.decoded(answer) == {"echo": "abc abc"}
    assert "HTTP 200" in box.status_line.value and "abc abc" in box.answer_box.children[0].value


def test_token_is_an_editable_masked_field_that_re_signs(echo):
    box = easlab.debug(echo, namespace={})
    assert box.token_box.hidden in box.token_box.children  # a password field: masked
    assert box.token_box.token == TOKEN and box.token_box.value == ""  # the page holds none
    assert "token in use: ••••••••0001" in box.token_box.hidden.placeholder
    box.token_box.toggle.value = True
    assert box.token_box.plain in box.token_box.children and box.token_box.plain.value == TOKEN
    box.token_box.toggle.value = False
    assert box.token_box.value == "" and box.token_box.token == TOKEN
    _fill(box, text="xy")

    box.token_box.hidden.value = "wrong-token-0000"  # typing and pressing Enter
    assert "token applied" in box.status_line.value
    assert box.token_box.value == ""
    assert box.controls["text"][1].value == "xy"  # the form keeps what was typed
    code, _ = box.send()
    assert code == 401 and "HTTP 401" in box.status_line.value
    assert "wrong-token-0000" in box.copy_buttons["curl"].full_text
    assert "wrong-token-0000" not in box.copy_buttons["curl"].text

    box.token_box.hidden.value = TOKEN
    code, answer = box.send()
    assert code == 200 and box.session.decoded(answer) == {"echo": "xy xy"}


def test_copy_as_curl_and_python_run_as_copied(echo):
    box = easlab.debug(echo, namespace={})
    _fill(box, text="Copy Me", case="upper", repeat=1)
    assert [b.label for b in box.copy_buttons.values()] == [
        "Copy as curl",
        "Copy as Python (easlab)",
    ]
    curl = box.copy_buttons["curl"]
    assert not curl.disabled and "Content-Type: application/json" in curl.text
    assert TOKEN not in curl.text and "••••••••0001" in curl.text  # what the page holds
    assert echo.url in curl.text

    copied = curl.simulate_click(ok=True)  # a click: the text from Python, then "copied"
    assert TOKEN in copied and copied == curl.full_text
    answer = json.loads(_run(copied))
    assert base64.b64decode(answer["payload"]["echo"]["text"]) == b"COPY ME"
    assert curl.copies == 1 and box.copy_pane.snippet.value == curl.text
    assert "curl copied to the clipboard" in box.copy_pane.note.value
    box.copy_buttons["easlab"].simulate_click(ok=False)
    assert "select the text below" in box.copy_pane.note.value
    assert "client.predict(" in box.copy_pane.snippet.value

    box.controls["text"][1].value = "changed"  # the snippets follow the form
    copied = box.copy_buttons["curl"].simulate_click(ok=True)
    answer = json.loads(_run(copied))
    assert base64.b64decode(answer["payload"]["echo"]["text"]).decode().lower() == "changed"


def test_the_form_holds_no_token_in_the_page(echo):
    box = easlab.debug(echo, namespace={})
    assert where_in_page(box, TOKEN) == []  # created
    _fill(box, text="secret-free")
    code, _ = box.send()
    assert code == 200 and where_in_page(box, TOKEN) == []  # sent
    assert TOKEN in box.copy_pane.copy_as("curl")
    box.copy_buttons["curl"].simulate_click(ok=True)
    box.copy_buttons["easlab"].simulate_click(ok=False)
    assert where_in_page(box, TOKEN) == []  # copied as
    box.token_box.toggle.value = True  # the eye: an explicit reveal
    assert {"Text.value", "Textarea.value"} <= set(where_in_page(box, TOKEN))
    box.token_box.toggle.value = False
    assert where_in_page(box, TOKEN) == [] and box.session.target.token == TOKEN


@pytest.mark.timeout(240)
def test_stopped_kernel_shows_a_start_state_and_follows_the_service(tmp_path, monkeypatch):
    from easlab.client.control import KernelClient
    from easlab.client.local import LocalKernel

    folder = copy_wrapper("echo", tmp_path / "echo")
    first = LocalKernel(port=0, state_dir=tmp_path / "first")
    try:
        svc = KernelClient(first.endpoint, admin_token=first.admin_token).create(
            _spec(folder, "aiges_gone")
        )
        box = easlab.debug(svc, namespace={})
        assert isinstance(box, AigesDebugWidget)
        _fill(box, text="one", repeat=1)
        assert box.send()[0] == 200
        assert not box.kernel_banner.shown
    finally:
        first.stop()  # what a tutorial's clean-up cell used to do
    monkeypatch.delenv("EASLAB_ENDPOINT", raising=False)
    monkeypatch.setenv("EASLAB_HOME", str(tmp_path / "no-kernel-here"))
    code, _ = box.send()
    assert code == 0 and "kernel is not running" in box.status_line.value
    assert box.kernel_banner.shown and "kernel is not running" in box.kernel_banner.note.value
    assert box.kernel_banner.button.description == "Start the kernel"
    assert "ConnectionRefused" not in box.status_line.value

    second = LocalKernel(port=0, state_dir=tmp_path / "second")
    try:
        monkeypatch.setenv("EASLAB_ENDPOINT", second.endpoint)
        monkeypatch.setenv("EASLAB_ADMIN_TOKEN", second.admin_token)
        note = box.start_kernel()
        assert (
            "no service 'aiges_gone'" in note and "kernel started" in box.kernel_banner.note.value
        )

        # the user reruns the cell that creates the service: Send finds it on the new kernel
        KernelClient(second.endpoint, admin_token=second.admin_token).create(
            _spec(folder, "aiges_gone")
        )
        code, answer = box.send()
        assert code == 200 and box.session.decoded(answer) == {"echo": "one"}
        assert not box.kernel_banner.shown
        assert box.session.target.endpoint == second.endpoint
        assert second.endpoint in box.title.value or "aiges_gone" in box.title.value
    finally:
        second.stop()

"""The aiges debug form in a real browser: the schema's controls, the token field, Send,
the decoded answer, and "Copy as curl"; saves tests/artifacts/widget-aiges.png.

JupyterLab headless, Debian's Chromium driven by Playwright (as test_widget_browser.py).
The token stays out of the page until the eye shows it; the copied command has it and
runs as copied.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import tempfile

import pytest

from tests.aiges.conftest import copy_wrapper

from .nbrun import ROOT
from .test_browser import Lab, screenshot, widget_in_lab
from .test_browser import lab as lab  # noqa: F401  (the fixture)
from .test_widget_browser import page_text_of


def _cells(wrapper: str) -> list[str]:
    return [
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "import easlab\n"
        "k = easlab.connect(start=True)\n"
        "svc = k.create({'name': 'widget_aiges', 'token': 'widget-token-aiges',\n"
        f"                'processor': 'aiges', 'processor_path': {wrapper!r},\n"
        "                'metadata': {'instance': 1}})",
        "w = easlab.debug(svc)\nw.controls['text'][1].value = 'Hello aiges'\n"
        "w.controls['repeat'][1].value = 1  # the schema gives only the maximum (as the SDK)\nw",
    ]


@pytest.mark.timeout(300)
def test_aiges_form_token_and_copy_as_curl_in_the_browser(lab: Lab):  # noqa: F811
    from playwright.sync_api import expect

    wrapper = copy_wrapper("echo", lab.root / "aiges_echo")
    cells = _cells(str(wrapper))
    with widget_in_lab(
        lab,
        "aiges_widget.ipynb",
        cells,
        "widget-aiges-failure.png",
        permissions=["clipboard-read", "clipboard-write"],
    ) as (page, widget):
        expect(widget).to_contain_text("aiges service")
        # the token: a masked field, empty, whose placeholder tells the token in use
        token = widget.locator("input[type=password]")
        expect(token).to_have_value("")
        expect(token).to_have_attribute("placeholder", re.compile("token in use: •+iges"))
        widget.locator("button", has_text="show").click()  # the eye: an explicit reveal
        expect(widget.locator("input[type=text]").first).to_have_value("widget-token-aiges")
        widget.locator("button", has_text="hide").click()
        expect(widget.locator("input[type=password]")).to_have_value("")
        widget.locator("button", has_text="Send").click()
        expect(widget).to_contain_text("HTTP 200", timeout=30_000)
        expect(widget).to_contain_text("HELLO AIGES")
        copy = widget.locator("button", has_text="Copy as curl")
        expect(copy).to_be_enabled()
        copy.click()
        expect(widget).to_contain_text("copied to the clipboard", timeout=10_000)
        copied = page.evaluate("navigator.clipboard.readText()")
        # the box shows the command with the token masked, as does the page everywhere
        expect(widget.locator("textarea").last).to_have_value(re.compile("curl .*•+iges"))
        in_page = page_text_of(widget)
        screenshot(page, widget, "widget-aiges.png")

    assert "widget-token-aiges" not in in_page
    assert copied.startswith("curl ") and "widget-token-aiges" in copied
    with tempfile.TemporaryDirectory() as fresh:
        proc = subprocess.run(["bash", "-c", copied], cwd=fresh, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    answer = json.loads(proc.stdout)
    assert base64.b64decode(answer["payload"]["echo"]["text"]) == b"HELLO AIGES"

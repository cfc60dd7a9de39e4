"""The aiges debug form in a real browser: the schema's controls, the token field, Send,
the decoded answer, and "Copy as curl"; saves tests/artifacts/widget-aiges.png.

JupyterLab headless, Debian's Chromium driven by Playwright (as test_widget_browser.py).
"""

from __future__ import annotations

import re

import pytest

from tests.aiges.conftest import copy_wrapper

from .nbrun import ROOT
from .test_browser import Lab, screenshot, widget_in_lab
from .test_browser import lab as lab  # noqa: F401  (the fixture)


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
    with widget_in_lab(lab, "aiges_widget.ipynb", cells, "widget-aiges-failure.png") as (
        page,
        widget,
    ):
        expect(widget).to_contain_text("aiges service")
        # the token: a masked field holding the service's token
        token = widget.locator("input[type=password]")
        expect(token).to_have_value("widget-token-aiges")
        widget.locator("button", has_text="Send").click()
        expect(widget).to_contain_text("HTTP 200", timeout=30_000)
        expect(widget).to_contain_text("HELLO AIGES")
        copy = widget.locator("button", has_text="Copy as curl")
        expect(copy).to_be_enabled()
        copy.click()
        # headless Chromium may refuse the clipboard: either way the command is shown
        expect(widget).to_contain_text(
            re.compile("copied to the clipboard|select the text below"), timeout=10_000
        )
        expect(widget.locator("textarea").last).to_have_value(re.compile("curl .*aiges"))
        screenshot(page, widget, "widget-aiges.png")

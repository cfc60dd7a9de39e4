"""The aiges debug form in a real browser: the schema's controls, the token field, Send,
the decoded answer, and "Copy as curl"; saves tests/artifacts/widget-aiges.png.

JupyterLab headless, Debian's Chromium driven by Playwright (as test_widget_browser.py).
"""

from __future__ import annotations

import re

import pytest

from tests.aiges.conftest import copy_wrapper
from tests.browser import CHROMIUM, CHROMIUM_ARGS, write_notebook

from .nbrun import ROOT
from .test_browser import ARTIFACTS, Lab, _run_menu, _start_session
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
    from playwright.sync_api import expect, sync_playwright

    wrapper = copy_wrapper("echo", lab.root / "aiges_echo")
    write_notebook(lab.root / "aiges_widget.ipynb", _cells(str(wrapper)))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
            page.set_default_timeout(30_000)
            _start_session(lab, "aiges_widget.ipynb")
            page.goto(lab.page_url("aiges_widget.ipynb"))
            expect(
                page.locator(".jp-StatusBar-Widget", has_text="Python 3 (ipykernel) | Idle")
            ).to_be_visible(timeout=60_000)
            _run_menu(page, "Run All Cells")
            widget = (
                page.locator(".jp-OutputArea-output")
                .filter(has=page.locator("button", has_text="Send"))
                .first
            )
            expect(widget).to_be_visible(timeout=120_000)
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
            widget.scroll_into_view_if_needed()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "widget-aiges.png"), full_page=True)
        except Exception:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "widget-aiges-failure.png"))
            raise
        finally:
            browser.close()

"""The Seldon debug widget in a real browser: the form from /metadata, Send, the answer
table and its meta; saves tests/artifacts/widget-seldon.png.

JupyterLab headless, Debian's Chromium driven by Playwright (as test_widget_browser.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .nbrun import ROOT
from tests.browser import CHROMIUM, CHROMIUM_ARGS, write_notebook

from .test_browser import ARTIFACTS, Lab, _run_menu, _start_session
from .test_browser import lab as lab  # noqa: F401  (the fixture)

COMPONENTS = ROOT / "tests" / "seldon" / "components"
CELLS = [
    f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
    "import easlab\n"
    "k = easlab.connect(start=True)\n"
    "svc = k.create({'name': 'widget_seldon', 'token': 'widget-token-seldon',\n"
    f"                'processor': 'seldon', 'processor_path': {str(COMPONENTS)!r},\n"
    "                'processor_mainclass': 'MetaForm', 'metadata': {'instance': 1}})",
    "import pandas as pd\nframe = pd.DataFrame({'x': [1.0, 3.0], 'y': [2.0, 4.0]})\n"
    "w = easlab.debug(svc)\nw.editor.rows[0].source.value = 'variable frame'\n"
    "w.editor.rows[0].fill()\nw",
]




@pytest.mark.timeout(300)
def test_seldon_form_and_meta_in_the_browser(lab: Lab):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    write_notebook(lab.root / "seldon_widget.ipynb", CELLS)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
            page.set_default_timeout(30_000)
            _start_session(lab, "seldon_widget.ipynb")
            page.goto(lab.page_url("seldon_widget.ipynb"))
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
            expect(widget).to_contain_text("ndarray [2] → x, y")
            widget.locator("button", has_text="Send").click()
            expect(widget).to_contain_text("HTTP 200", timeout=30_000)
            expect(widget).to_contain_text("tags", timeout=10_000)
            expect(widget).to_contain_text("metaform")
            expect(widget).to_contain_text("COUNTER")
            widget.scroll_into_view_if_needed()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "widget-seldon.png"), full_page=True)
        except Exception:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "widget-seldon-failure.png"))
            raise
        finally:
            browser.close()

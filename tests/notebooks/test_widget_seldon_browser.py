"""The Seldon debug widget in a real browser: the form from /metadata, Send, the answer
table and its meta; saves tests/artifacts/widget-seldon.png.

JupyterLab headless, Debian's Chromium driven by Playwright (as test_widget_browser.py).
"""

from __future__ import annotations

import pytest

from .nbrun import ROOT
from .test_browser import Lab, screenshot, widget_in_lab
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
    from playwright.sync_api import expect

    with widget_in_lab(lab, "seldon_widget.ipynb", CELLS, "widget-seldon-failure.png") as (
        page,
        widget,
    ):
        expect(widget).to_contain_text("ndarray [2] → x, y")
        widget.locator("button", has_text="Send").click()
        expect(widget).to_contain_text("HTTP 200", timeout=30_000)
        expect(widget).to_contain_text("tags", timeout=10_000)
        expect(widget).to_contain_text("metaform")
        expect(widget).to_contain_text("COUNTER")
        screenshot(page, widget, "widget-seldon.png")

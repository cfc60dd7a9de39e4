"""The debug widget in a real browser: "Copy as curl" puts the command on the clipboard.

JupyterLab headless, Debian's Chromium driven by Playwright (as test_browser.py).
A notebook creates an echo service and shows the widget; the test clicks Send,
then "Copy as curl", reads the clipboard, runs that command with bash in an
empty folder, and saves tests/artifacts/widget-copy.png. The token reaches the
clipboard on the click (asked from Python), while the widget's page never holds it.
"""

from __future__ import annotations

import re
import subprocess
import tempfile

import pytest

from .nbrun import ROOT
from .test_browser import Lab, screenshot, widget_in_lab
from .test_browser import lab as lab  # noqa: F401  (the fixture)

ECHO_APP = """\
import allspark


class Echo(allspark.BaseProcessor):
    def process(self, data):
        return b"echo:" + data, 200
"""

CELLS = [
    # this checkout's easlab, whatever the venv's editable install points at
    f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
    "import pathlib, easlab\n"
    "k = easlab.connect(start=True)\n"
    "app = pathlib.Path('echo_app'); app.mkdir(exist_ok=True)\n"
    f"(app / 'app.py').write_text({ECHO_APP!r})\n"
    "svc = k.create({'name': 'widget_echo', 'token': 'widget-token-0001',\n"
    "                'processor_type': 'python', 'processor_path': str(app.resolve()),\n"
    "                'processor_entry': 'app.py', 'metadata': {'instance': 1}})",
    'w = easlab.debug(svc)\nw.editor.raw.value = \'{"q": "hi"}\'\nw',
    "wrong = easlab.debug(svc.url, token='wrong-token')\nwrong",
]


def page_text_of(widget) -> str:
    """What the widget's page holds: its HTML (hover titles too) and its fields' values."""
    values = widget.locator("input, textarea").evaluate_all("els => els.map(e => e.value)")
    return widget.inner_html() + "\n".join(values)


@pytest.mark.timeout(300)
def test_copy_as_curl_reaches_the_clipboard(lab: Lab):  # noqa: F811
    from playwright.sync_api import expect

    with widget_in_lab(
        lab,
        "widget.ipynb",
        CELLS,
        "widget-failure.png",
        permissions=["clipboard-read", "clipboard-write"],
    ) as (page, widget):
        token = widget.locator("input[type=password]")
        expect(token).to_have_value("")  # the token in use stays in Python
        expect(token).to_have_attribute("placeholder", re.compile("token in use: •+0001"))
        widget.locator("button", has_text="Send").click()
        expect(widget).to_contain_text("HTTP 200", timeout=30_000)

        widget.get_by_role("tab", name="Copy as").click()
        copy = widget.locator("button.easlab-copy", has_text="Copy as curl")
        expect(copy).to_be_visible()
        expect(widget.locator("button.easlab-copy")).to_have_count(3)
        copy.click()
        expect(widget).to_contain_text("copied to the clipboard", timeout=10_000)
        copied = page.evaluate("navigator.clipboard.readText()")
        expect(widget.locator("textarea").last).to_have_value(re.compile("^curl .*•+0001"))
        in_page = page_text_of(widget)
        screenshot(page, widget, "widget-copy.png")

        wrong = page.locator(".jp-OutputArea-output").filter(has_text="token is wrong")
        expect(wrong).to_be_visible(timeout=30_000)
        screenshot(page, wrong, "widget-wrong-token.png")
        # typing the right token and Enter applies it, and the field gives it back to Python
        wrong = page.locator(".jp-OutputArea-output").filter(has=page.locator("button.easlab-copy"))
        wrong = wrong.nth(1)  # the second debug widget: its text changes from here
        field = wrong.locator("input[type=password]")
        field.fill("widget-token-0001")
        field.press("Enter")
        expect(wrong).to_contain_text("token applied", timeout=30_000)
        expect(field).to_have_value("")
        expect(field).to_have_attribute("placeholder", re.compile("token in use: •+0001"))

    assert "widget-token-0001" not in in_page and "•0001" in in_page
    assert copied.startswith("curl ") and "widget-token-0001" in copied
    with tempfile.TemporaryDirectory() as fresh:
        proc = subprocess.run(["bash", "-c", copied], cwd=fresh, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == b'echo:{"q": "hi"}'

"""A hostile page in a real browser cannot drive the kernel's control API.

A page served from another local port (any site the user opens could do the
same) tries what a browser allows without credentials: a ``no-cors`` fetch
POST, an HTML form POST, and a plain cross-origin GET of the services list.
Debian's Chromium, driven by Playwright, as the notebook browser test does.
"""

from __future__ import annotations

import http.server
import json
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS

MARKER_APP = """
import allspark, pathlib


class App(allspark.BaseProcessor):
    def initialize(self):
        pathlib.Path({marker!r}).write_text("ran")

    def process(self, data):
        return data, 200
"""

PAGE = """<!doctype html>
<html><body>
<form id="f" method="POST" action="{api}/services" enctype="text/plain" target="sink">
  <input name='{{"spec": {spec}, "x": "' value='"}}'>
</form>
<iframe name="sink"></iframe>
<script>
window.results = {{}};
async function attack() {{
  try {{
    await fetch("{api}/services", {{method: "POST", mode: "no-cors", body: {body}}});
    window.results.nocors = "sent";
  }} catch (e) {{ window.results.nocors = "error " + e; }}
  try {{
    const r = await fetch("{api}/services");
    window.results.list = "read " + (await r.text());
  }} catch (e) {{ window.results.list = "blocked"; }}
  document.getElementById("f").submit();
  window.results.form = "submitted";
}}
attack().then(() => {{ window.done = true; }});
</script>
</body></html>
"""


@pytest.fixture
def attacker_site(tmp_path: Path, kernel) -> Iterator[tuple[str, Path]]:
    """A page on another loopback port that attacks the kernel; yields (url, marker file)."""
    folder = tmp_path / "evil"
    folder.mkdir()
    marker = tmp_path / "marker"
    (folder / "app.py").write_text(textwrap.dedent(MARKER_APP.format(marker=str(marker))))
    spec = {
        "name": "browser_evil",
        "processor_type": "python",
        "processor_path": str(folder),
        "processor_entry": "app.py",
        "metadata": {"instance": 1},
    }
    spec_json = json.dumps(spec)
    page = PAGE.format(
        api=kernel.endpoint + "/easlab/v1",
        spec=spec_json.replace("'", "&#39;"),
        body=json.dumps(json.dumps({"spec": spec})),
    )
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(page)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(site), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html", marker
    finally:
        server.shutdown()
        server.server_close()


def test_a_page_from_another_origin_creates_nothing(kernel, attacker_site, tmp_path):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "make test installs Debian's chromium (browser-deps)"
    url, marker = attacker_site
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
        )
        try:
            page = browser.new_page()
            page.goto(url)
            page.wait_for_function("window.done === true", timeout=20_000)
            results = page.evaluate("window.results")
            # let the form's navigation reach the kernel and be answered
            page.wait_for_timeout(1000)
        finally:
            browser.close()
    assert results["nocors"] == "sent"  # the browser did send it ...
    assert results["form"] == "submitted"
    assert results["list"] == "blocked", results  # ... and could read nothing back
    names = [s["name"] for s in kernel.client.list()]
    assert not any(name.startswith("browser_evil") for name in names), names
    assert not marker.exists(), "the attacker's processor ran"

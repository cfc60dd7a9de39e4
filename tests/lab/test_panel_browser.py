"""The "EAS services" panel in a real JupyterLab, driven in Debian's Chromium by Playwright.

No kernel at first: the panel says so and starts one. A notebook creates a
service; the panel lists it, scales it to 2 (the kernel agrees), its sparkline
moves under load, and it is deleted from the panel. The kernel's admin token
is never in the page. Screenshots go to tests/artifacts/panel-*.png.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.lab.lab_server import kernel_client

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"


@contextlib.contextmanager
def panel_page(url: str, failure_png: str | None = None) -> Iterator[Any]:
    """Debian's Chromium on JupyterLab at ``url``, the "EAS services" tab opened: the page.
    ``failure_png``: a screenshot under tests/artifacts when the block fails."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser-deps` installs Debian's Chromium")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(30_000)
        try:
            page.goto(url)
            tab = page.locator('.jp-SideBar .lm-TabBar-tab[data-id="easlab-services"]')
            expect(tab).to_be_visible(timeout=60_000)
            tab.click()
            yield page
        except Exception:
            if failure_png:
                page.screenshot(path=str(ARTIFACTS / failure_png))
            raise
        finally:
            browser.close()


@pytest.mark.timeout(300)
def test_panel_lists_scales_loads_and_deletes(lab):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    url = f"{lab['url']}/lab/tree/panel.ipynb?token={lab['token']}"
    with panel_page(url, "panel-failure.png") as page:
        panel = page.locator("#easlab-services")
        expect(panel).to_contain_text("No easlab kernel is running")
        page.screenshot(path=str(ARTIFACTS / "panel-no-kernel.png"))
        panel.get_by_role("button", name="Start a kernel").click()
        expect(panel.locator(".easlab-kernel")).to_contain_text("kernel http://", timeout=60_000)
        kernel = kernel_client(lab["home"])

        # the notebook creates the service; the panel lists it
        expect(page.locator(".jp-StatusBar-Widget", has_text="| Idle")).to_be_visible(
            timeout=60_000
        )
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        card = panel.locator('.easlab-card[data-service="panel_svc"]')
        expect(card.locator(".easlab-status")).to_have_text("Running", timeout=90_000)
        expect(card.locator(".easlab-instances")).to_have_text("1/1 instances")

        # scale to 2 from the panel; the kernel agrees
        card.get_by_role("button", name="scale").click()
        dialog = page.locator(".jp-Dialog")
        dialog.locator("input").fill("2")
        dialog.get_by_role("button", name="Ok").click()
        expect(card.locator(".easlab-instances")).to_have_text("2/2 instances", timeout=90_000)
        assert len(kernel.workers("panel_svc")) == 2

        # load: the QPS figure and its sparkline move
        desc = kernel.describe("panel_svc")
        stop = threading.Event()

        def load() -> None:
            with requests.Session() as s:
                while not stop.is_set():
                    s.post(desc["url"], data=b"hi", headers={"Authorization": desc["token"]})

        threads = [threading.Thread(target=load) for _ in range(2)]
        for t in threads:
            t.start()
        try:
            expect(card.locator(".easlab-qps")).not_to_have_text("0.0 req/s", timeout=30_000)
            time.sleep(3)  # a few seconds of curve for the screenshot
            path = card.locator(".easlab-spark-qps path").get_attribute("d") or ""
            heights = {point.split(",")[1] for point in re.split("[ML]", path) if point}
            assert path.count("L") > 5 and len(heights) > 1, path  # not a flat line
        finally:
            stop.set()
            for t in threads:
                t.join()
        card.locator(".easlab-reveal").click()
        expect(card.locator(".easlab-token-value")).to_have_text("panel-token-123456")
        page.screenshot(path=str(ARTIFACTS / "panel.png"))

        # the admin token is nowhere in the page or its scripts' answers
        assert kernel.admin_token not in page.content()

        card.get_by_role("button", name="delete").click()
        page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
        expect(card).to_have_count(0, timeout=30_000)
        assert [s["name"] for s in kernel.list()] == []


@pytest.mark.timeout(240)
def test_panel_without_its_server_extension_says_how_to_install_it(tmp_path, easlab_home, app_dir):
    # the front end is installed but Jupyter loads no easlab.lab: /easlab-lab/api is
    # Jupyter's HTML 404 page, which the panel showed as "easlab: Unexpected token '<' ..."
    from playwright.sync_api import expect

    from tests.lab.lab_server import start_lab

    with start_lab(tmp_path, app_dir, server_extension=False) as lab:
        with panel_page(f"{lab['url']}/lab?token={lab['token']}") as page:
            header = page.locator("#easlab-services .easlab-header")
            expect(header).to_contain_text("server extension is not loaded")
            expect(header).to_contain_text("python -m easlab.lab.install")


HOSTILE = '<img src=x onerror="window.__easlabPwned=1">\nopen({marker!r}, "w").close()'


def _posing_kernel(name: str) -> http.server.ThreadingHTTPServer:
    """Something posing as a kernel at the recorded endpoint: one service named ``name``."""
    service = {
        "name": name,
        "status": "Running",
        "message": name,
        "url": "http://127.0.0.1:1/api/predict/x",
        "processor": "python",
        "total_instance": 1,
        "running_instance": 1,
        "current_version": 1,
    }
    answers = {"/easlab/v1/info": {}, "/easlab/v1/services": {"services": [service]}}

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            body = json.dumps(answers.get(path, {"services": {}})).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.timeout(240)
def test_a_hostile_service_name_is_shown_as_text_and_never_run(lab, tmp_path):
    # the panel puts `%eas debug NAME` into a cell and runs it: a name with a newline
    # and code after it (an easlab kernel refuses such names; something posing as one
    # at the recorded endpoint need not) ran that code in the user's notebook kernel
    from playwright.sync_api import expect

    marker = tmp_path / "ran"
    name = HOSTILE.format(marker=str(marker))
    server = _posing_kernel(name)
    record = {"endpoint": f"http://127.0.0.1:{server.server_port}", "pid": os.getpid()}
    (lab["home"] / "kernel.json").write_text(json.dumps(record))
    try:
        url = f"{lab['url']}/lab/tree/panel.ipynb?token={lab['token']}"
        with panel_page(url) as page:
            card = page.locator("#easlab-services .easlab-card")
            expect(card).to_have_count(1)
            # markup in the name and message is text, not elements
            assert card.locator(".easlab-name").text_content() == name
            assert card.locator("img").count() == 0
            expect(page.locator(".jp-StatusBar-Widget", has_text="| Idle")).to_be_visible(
                timeout=60_000
            )
            card.get_by_role("button", name="debug widget").click()
            dialog = page.locator(".jp-Dialog")
            expect(dialog).to_contain_text("is not a service name")
            dialog.get_by_role("button", name="Ok").click()
            assert page.evaluate("window.__easlabPwned") is None
            cells = page.locator(".jp-Notebook .jp-Cell")
            expect(cells).to_have_count(2)  # panel.ipynb's own two: nothing inserted
        assert not marker.exists()
    finally:
        (lab["home"] / "kernel.json").unlink()
        server.shutdown()
        server.server_close()

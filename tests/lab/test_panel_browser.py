"""The "EAS services" panel in a real JupyterLab, driven in Debian's Chromium by Playwright.

No kernel at first: the panel says so and starts one. A notebook creates a
service; the panel lists it, scales it to 2 (the kernel agrees), its sparkline
moves under load, and it is deleted from the panel. The kernel's admin token
is never in the page. Screenshots go to tests/artifacts/panel-*.png.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.browser import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
LABEXTENSION = ROOT / "easlab" / "lab" / "labextension"

NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": "%load_ext easlab",
        },
        {
            "cell_type": "code",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": "%%eas create svc\n"
            "name: panel_svc\n"
            "token: panel-token-123456\n"
            "processor_type: python\n"
            "processor_path: {app_dir}\n"
            "processor_entry: app.py\n"
            "metadata:\n"
            "  instance: 1\n",
        },
    ],
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def lab(tmp_path: Path, easlab_home: Path, app_dir: Path) -> Iterator[dict[str, Any]]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser-deps` installs Debian's Chromium")
    if not (LABEXTENSION / "package.json").exists():
        pytest.fail("the panel is not built: `make labextension`")
    home = tmp_path / "home"
    home.mkdir()
    root = tmp_path / "nb"
    root.mkdir()
    nb = json.loads(json.dumps(NOTEBOOK).replace("{app_dir}", str(app_dir)))
    (root / "panel.ipynb").write_text(json.dumps(nb))
    jpath = tmp_path / "jupyter_path"
    (jpath / "labextensions").mkdir(parents=True)
    (jpath / "labextensions" / "easlab-lab").symlink_to(LABEXTENSION)
    config = tmp_path / "config"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"easlab.lab": True}}})
    )
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}'
    )
    env = dict(os.environ)
    env.pop("EASLAB_ENDPOINT", None)
    env.update(
        EASLAB_HOME=str(home),
        PYTHONPATH=str(ROOT),
        JUPYTER_PATH=str(jpath),
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "ws"),
    )
    port, token = _free_port(), secrets.token_hex(16)
    log = tmp_path / "lab.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyterlab",
                "--no-browser",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={root}",
                "--LabApp.news_url=",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                *(["--allow-root"] if os.geteuid() == 0 else []),
            ],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(f"{url}/api/status?token={token}", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError(f"JupyterLab did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield {"url": url, "token": token, "home": home, "log": log}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        _stop_kernels(home)


def _kernel_client(home: Path) -> Any:
    from easlab.client.connect import connect

    old = os.environ.get("EASLAB_HOME")
    os.environ["EASLAB_HOME"] = str(home)
    try:
        return connect(None)
    finally:
        if old is None:
            os.environ.pop("EASLAB_HOME", None)
        else:
            os.environ["EASLAB_HOME"] = old


def _stop_kernels(home: Path) -> None:
    try:
        _kernel_client(home).shutdown()
    except Exception:
        pass


@pytest.mark.timeout(300)
def test_panel_lists_scales_loads_and_deletes(lab):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(30_000)
        try:
            page.goto(f"{lab['url']}/lab/tree/panel.ipynb?token={lab['token']}")
            tab = page.locator('.jp-SideBar .lm-TabBar-tab[data-id="easlab-services"]')
            expect(tab).to_be_visible(timeout=60_000)
            tab.click()
            panel = page.locator("#easlab-services")
            expect(panel).to_contain_text("No easlab kernel is running")
            page.screenshot(path=str(ARTIFACTS / "panel-no-kernel.png"))
            panel.get_by_role("button", name="Start a kernel").click()
            expect(panel.locator(".easlab-kernel")).to_contain_text(
                "kernel http://", timeout=60_000
            )
            kernel = _kernel_client(lab["home"])

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
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "panel-failure.png"))
            raise
        finally:
            browser.close()

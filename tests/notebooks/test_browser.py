"""The quickstart in a real browser: JupyterLab headless, Debian's Chromium driven by Playwright.

Runs the notebook down to its clean-up cell from the Run menu, waits for the
debug widget, clicks Send, checks that a 200 answer is shown, saves a
screenshot to tests/artifacts/quickstart.png, then runs the clean-up cell and
checks the kernel is gone.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS, write_notebook
from tests.ports import free_port

from .nbrun import (
    NOTEBOOK_DIR,
    ROOT,
    easlab_processes,
    kernel_env,
    leftover_services,
    stop_processes,
)

ARTIFACTS = ROOT / "tests" / "artifacts"


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    easlab_home: Path

    def page_url(self, notebook: str) -> str:
        return f"{self.url}/lab/tree/{notebook}?token={self.token}"


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError(
        f"JupyterLab did not answer {url} in {timeout} s:\n{log.read_text()[-3000:]}"
    )


@pytest.fixture
def lab(tmp_path: Path, easlab_home: Path) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1 with a token, serving a copy of the tutorials."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser test needs Debian's Chromium. "
            "Install it with `make browser-deps` (or `apt-get install -y chromium`)."
        )
    root = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOK_DIR, root)
    port, token = free_port(), secrets.token_hex(16)
    env = kernel_env(easlab_home)
    # a private Jupyter config, settings and workspace: nothing of the user's lab leaks in
    for var, sub in [
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "ws"),
    ]:
        env[var] = str(tmp_path / sub)
    # no "get notified about Jupyter news?" toast over the screenshot
    notification = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}'
    )
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
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={token}",
                "--ServerApp.open_browser=False",
                f"--ServerApp.root_dir={root}",
                "--LabApp.news_url=",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                # CI containers run as root
                *(["--allow-root"] if os.geteuid() == 0 else []),
            ],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{url}/api/status?token={token}", proc, log)
        yield Lab(url, token, root, easlab_home)
    finally:
        proc.terminate()  # the server shuts its notebook kernels down on SIGTERM
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        stop_processes(easlab_processes(easlab_home))


def _start_session(lab: Lab, notebook: str) -> None:
    """Start the notebook's kernel through the REST API, as a lab with the notebook open would.

    Opening the page then joins this session; without it, a Run command that
    races the page's own kernel start-up can pop up the "Select Kernel" dialog.
    """
    import requests

    resp = requests.post(
        f"{lab.url}/api/sessions",
        headers={"Authorization": f"token {lab.token}"},
        json={
            "path": notebook,
            "name": notebook,
            "type": "notebook",
            "kernel": {"name": "python3"},
        },
        timeout=60,
    )
    assert resp.status_code == 201, resp.text


def _run_menu(page: Any, item: str) -> None:
    """Run → ``item``, once the command is enabled (it is not until the notebook has a kernel)."""
    from playwright.sync_api import expect

    page.get_by_role("menuitem", name="Run", exact=True).click()
    entry = page.get_by_role("menuitem", name=item, exact=True)
    expect(entry).to_be_enabled(timeout=30_000)
    entry.click()


@contextlib.contextmanager
def widget_in_lab(
    lab: Lab, notebook: str, cells: list[str], failure_shot: str, **context: Any
) -> Iterator[tuple[Any, Any]]:
    """Write ``cells`` as ``notebook``, Run All in Chromium, and yield ``(page, widget)``:
    the first output with a Send button (a debug widget). A failure inside saves
    ``ARTIFACTS/failure_shot``; the browser closes either way."""
    from playwright.sync_api import expect, sync_playwright

    write_notebook(lab.root / notebook, cells)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_context(
                viewport={"width": 1400, "height": 1100}, **context
            ).new_page()
            page.set_default_timeout(30_000)
            try:
                _start_session(lab, notebook)
                page.goto(lab.page_url(notebook))
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
                yield page, widget
            except Exception:
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / failure_shot))
                raise
        finally:
            browser.close()


def screenshot(page: Any, widget: Any, name: str) -> None:
    widget.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


@pytest.mark.timeout(300)
def test_quickstart_in_chromium(lab: Lab):
    from playwright.sync_api import expect, sync_playwright

    (ARTIFACTS / "quickstart-failure.png").unlink(missing_ok=True)  # a stale one would mislead
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(30_000)
            _start_session(lab, "01-quickstart.ipynb")
            page.goto(lab.page_url("01-quickstart.ipynb"))
            cells = page.locator(".jp-NotebookPanel .jp-Cell")
            expect(cells.last).to_be_visible(timeout=60_000)
            # the page has joined the notebook's kernel and the kernel is ready
            expect(
                page.locator(".jp-StatusBar-Widget", has_text="Python 3 (ipykernel) | Idle")
            ).to_be_visible(timeout=60_000)

            # everything but the clean-up cell: select it, then Run → Run All Above Selected Cell
            # the clean-up cell, found by its code (Shift+Enter below adds an empty cell after it)
            cleanup = cells.filter(has_text="shutil.rmtree(model_dir)")
            expect(cleanup).to_have_count(1)
            cleanup.locator(".jp-InputArea-editor").click()
            _run_menu(page, "Run All Above Selected Cell")
            # the first code cell is running or has run
            expect(page.locator(".jp-CodeCell .jp-InputPrompt").first).to_have_text(
                re.compile(r"\[(\*|\d+)\]:"), timeout=30_000
            )

            send = page.locator(".jp-OutputArea button", has_text="Send")
            expect(send).to_be_visible(timeout=120_000)
            send.scroll_into_view_if_needed()
            send.click()
            widget = page.locator(".jp-OutputArea-output").filter(
                has=page.locator("button", has_text="Send")
            )
            expect(widget).to_contain_text("HTTP 200", timeout=30_000)
            expect(widget).to_contain_text("scores")  # the decoded answer in the Response tab

            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            widget.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "quickstart.png"))

            # the clean-up cell stops the kernel the notebook started
            cleanup.locator(".jp-InputArea-editor").click()
            page.keyboard.press("Shift+Enter")
            expect(cleanup.locator(".jp-OutputArea")).to_contain_text(
                "deleted service quickstart", timeout=30_000
            )
        except Exception:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "quickstart-failure.png"))
            raise
        finally:
            browser.close()

    # the clean-up cell deleted the service; the kernel stays, visible, for the next notebook
    assert list(leftover_services(lab.easlab_home).values()) == [[]]
    assert os.path.getsize(ARTIFACTS / "quickstart.png") > 10_000

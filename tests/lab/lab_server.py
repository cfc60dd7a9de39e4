"""A JupyterLab on loopback with the easlab.lab server extension and the built panel.

It runs in its own EASLAB_HOME (no kernel at first) with a token of its own;
``start_lab`` yields its URL, that token, the home and the log file.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
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


@contextmanager
def start_lab(
    tmp_path: Path, app_dir: Path, server_extension: bool = True
) -> Iterator[dict[str, Any]]:
    """JupyterLab with the panel, its notebook folder holding panel.ipynb (creates a service);
    ``server_extension=False``: the front end alone, as when only the labextension got installed."""
    if not (LABEXTENSION / "package.json").exists():
        raise AssertionError("the panel is not built: `make labextension`")
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
        json.dumps({"ServerApp": {"jpserver_extensions": {"easlab.lab": server_extension}}})
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
    port, token = free_port(), secrets.token_hex(16)
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
        stop_kernels(home)


def kernel_client(home: Path) -> Any:
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


def stop_kernels(home: Path) -> None:
    try:
        kernel_client(home).shutdown()
    except Exception:
        pass

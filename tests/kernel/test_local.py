"""LocalKernel, the runtime file, background kernels, and allspark's standalone run()."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time

import pytest
import requests
from kernel_helpers import ECHO_APP, post, wait_for

from easlab import runtime
from easlab.client.local import LocalKernel, start_background


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("EASLAB_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_local_kernel_lifecycle_and_runtime_file(home, tmp_path, make_app):
    started = time.monotonic()
    with LocalKernel(port=0, state_dir=tmp_path / "state") as k:
        startup = time.monotonic() - started
        assert k.running and k.endpoint.startswith("http://127.0.0.1:")
        data = json.loads((home / "kernel.json").read_text())
        assert data["pid"] == k.pid and data["endpoint"] == k.endpoint
        assert data["state_dir"] == str((tmp_path / "state").resolve())
        assert runtime.read_runtime()["pid"] == k.pid
        # its own session: a notebook kernel restart (signal to our group) does not reach it
        assert os.getsid(k.pid) != os.getsid(0)

        svc = k.create(
            {
                "name": "local_echo",
                "token": "t0k3n-local",
                "processor_type": "python",
                "processor_path": str(make_app("local", ECHO_APP)),
                "processor_entry": "app.py",
                "metadata": {"instance": 1},
            }
        )
        assert post(svc.url, b"hi", "t0k3n-local").content == b"hi"
        assert svc.client().predict(b"via client") is not None
        attached = LocalKernel.attach()
        assert attached.pid == k.pid and attached.endpoint == k.endpoint
        assert [s["name"] for s in attached.services()] == ["local_echo"]
        log = (tmp_path / "state" / "logs" / "local_echo.log").read_text()
        assert "service running" in log
    assert not k.running
    assert not (home / "kernel.json").exists()
    assert runtime.read_runtime() is None
    assert startup < 5  # well under a second on an idle machine; shared CI is slower


def test_shutdown_through_the_control_api(home, tmp_path):
    k = LocalKernel(port=0, state_dir=tmp_path / "s")
    try:
        assert requests.post(
            k.endpoint + "/easlab/v1/shutdown", headers=k.admin_headers(), timeout=5
        ).json() == {"ok": True}
        wait_for(lambda: not k.running, what="the kernel to exit")
        assert "easlab kernel stopped" in k.log_path.read_text()
    finally:
        k.stop()


def test_start_background_reuses_a_live_kernel(home, tmp_path):
    endpoint, token = start_background(state_dir=tmp_path / "bg")
    try:
        assert requests.get(endpoint + "/api/builtin/ping", timeout=5).text == "pong"
        assert start_background() == (endpoint, token)  # found through the runtime file
        import easlab

        assert easlab.connect(start=True).endpoint == endpoint
    finally:
        LocalKernel.attach().stop()
    assert runtime.read_runtime() is None


def test_attach_without_kernel_says_how_to_start(home):
    from easlab.errors import KernelNotRunning

    with pytest.raises(KernelNotRunning, match="LocalKernel"):
        LocalKernel.attach()


def test_allspark_app_runs_standalone(tmp_path):
    app = tmp_path / "app.py"
    app.write_text(
        textwrap.dedent("""
        import allspark

        class MyProcessor(allspark.BaseProcessor):
            def initialize(self):
                self.w = 2

            def process(self, data):
                x = int(data)
                if x < 0:
                    return b"negative", 400
                return str(self.w * x).encode(), 200

        if __name__ == "__main__":
            MyProcessor(worker_threads=4, endpoint="127.0.0.1:0").run()
    """)
    )
    proc = subprocess.Popen(
        [sys.executable, str(app)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path
    )
    try:
        line = proc.stdout.readline().decode()
        url = re.search(r"http://\S+", line).group(0)
        assert requests.post(url + "/any/path", data=b"21", timeout=5).text == "42"
        assert requests.post(url + "/test", data=b"-1", timeout=5).status_code == 400
        assert requests.post(url, data=b"nan?", timeout=5).status_code == 400
    finally:
        proc.terminate()
        proc.wait(10)

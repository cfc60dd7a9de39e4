"""The control plane's lock (README: How the kernel is protected), through real HTTP.

Without the admin token every control call answers 401 and changes nothing;
a foreign Host or Origin gets 403; a body that is not JSON gets 415; the
runtime file is private; a kernel open to the network needs an explicit token.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests
from kernel_helpers import app_spec

from easlab import runtime

MARKER_APP = """
import allspark, pathlib


class App(allspark.BaseProcessor):
    def initialize(self):
        pathlib.Path({marker!r}).write_text("ran")

    def process(self, data):
        return data, 200
"""


@pytest.fixture
def evil_app(tmp_path: Path) -> tuple[Path, Path]:
    """An app.py whose initialize() leaves a marker file: proof that it ran."""
    folder = tmp_path / "evil"
    folder.mkdir()
    marker = tmp_path / "marker"
    (folder / "app.py").write_text(textwrap.dedent(MARKER_APP.format(marker=str(marker))))
    return folder, marker


@pytest.fixture(scope="module")
def victim(kernel, python_service):
    """A running service that the refused calls must leave untouched."""
    from kernel_helpers import ECHO_APP

    python_service("lock_victim", ECHO_APP, token="victim-token-" + "v" * 20)
    yield kernel.client.describe("lock_victim")
    kernel.client.delete("lock_victim")


def _calls(kernel, body: dict) -> list[tuple[str, str, dict | None]]:
    api = kernel.endpoint + "/easlab/v1"
    return [
        ("POST", f"{api}/services", body),
        ("GET", f"{api}/services", None),
        ("GET", f"{api}/services/lock_victim", None),
        ("GET", f"{api}/services/lock_victim/logs", None),
        ("GET", f"{api}/services/lock_victim/workers", None),
        ("PATCH", f"{api}/services/lock_victim", {"set": {"metadata.instance": "2"}}),
        ("POST", f"{api}/services/lock_victim/stop", None),
        ("POST", f"{api}/services/lock_victim/release", {"weight": 50}),
        ("POST", f"{api}/services/lock_victim/version", {"version": 1}),
        ("DELETE", f"{api}/services/lock_victim", None),
        ("GET", f"{api}/kernel", None),
        ("POST", f"{api}/shutdown", None),
    ]


@pytest.mark.parametrize(
    "auth", [None, "Bearer wrong-token-0123456789abcdef", "wrong-token-raw"], ids=str
)
def test_control_calls_without_the_admin_token_are_refused(kernel, victim, evil_app, auth):
    folder, marker = evil_app
    headers = {"Authorization": auth} if auth else {}
    for method, url, body in _calls(kernel, {"spec": app_spec("lock_evil", folder)}):
        resp = requests.request(method, url, json=body, headers=headers, timeout=10)
        assert resp.status_code == 401, (method, url, resp.text)
        error = resp.json()["error"]
        assert ("missing" if auth is None else "wrong") + " admin token" in error
        assert "runtime/kernel-<pid>.json" in error and "EASLAB_ADMIN_TOKEN" in error
        assert kernel.admin_token not in resp.text and victim["token"] not in resp.text
    assert not marker.exists(), "a refused create ran the processor"
    assert kernel.client.info()["pid"] == kernel.pid  # still serving
    after = kernel.client.describe("lock_victim")
    assert after["status"] == "Running" and after["total_instance"] == 1
    assert "lock_evil" not in [s["name"] for s in kernel.client.list()]


def test_the_right_token_works_and_is_the_only_way_to_see_service_tokens(kernel, victim):
    resp = requests.get(
        kernel.endpoint + "/easlab/v1/services", headers=kernel.admin_headers(), timeout=10
    )
    assert resp.status_code == 200
    tokens = {s["name"]: s["token"] for s in resp.json()["services"]}
    assert tokens["lock_victim"] == victim["token"]
    # "token" is accepted as the scheme too, as Jupyter does
    resp = requests.get(
        kernel.endpoint + "/easlab/v1/kernel",
        headers={"Authorization": f"token {kernel.admin_token}"},
        timeout=10,
    )
    assert resp.status_code == 200


def test_foreign_host_and_origin_get_403(kernel, victim):
    url = kernel.endpoint + "/easlab/v1/services"
    resp = requests.get(url, headers={**kernel.admin_headers(), "Host": "evil.example"}, timeout=5)
    assert resp.status_code == 403 and "--allow-host" in resp.json()["error"]
    resp = requests.get(
        url,
        headers={**kernel.admin_headers(), "Origin": "http://evil.example"},
        timeout=5,
    )
    assert resp.status_code == 403 and "cross-origin" in resp.json()["error"]
    port = kernel.endpoint.rsplit(":", 1)[1]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
        resp = requests.get(url, headers={**kernel.admin_headers(), "Host": host}, timeout=5)
        assert resp.status_code == 200, host
    same = requests.get(
        url,
        headers={**kernel.admin_headers(), "Origin": kernel.endpoint},
        timeout=5,
    )
    assert same.status_code == 200
    # the data plane keeps answering any Host, as EAS does, for whoever has the service token
    resp = requests.post(
        kernel.endpoint + "/api/predict/lock_victim",
        data=b"hi",
        headers={"Authorization": victim["token"], "Host": "my-gateway.example"},
        timeout=5,
    )
    assert resp.status_code == 200 and resp.content == b"hi"


def test_a_body_that_is_not_json_gets_415(kernel, evil_app):
    folder, marker = evil_app
    body = json.dumps({"spec": app_spec("lock_plain", folder)})
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = dict(kernel.admin_headers())
        if content_type:
            headers["Content-Type"] = content_type
        resp = requests.post(
            kernel.endpoint + "/easlab/v1/services", data=body, headers=headers, timeout=10
        )
        assert resp.status_code == 415, (content_type, resp.text)
        assert "application/json" in resp.json()["error"]
    assert not marker.exists()
    assert "lock_plain" not in [s["name"] for s in kernel.client.list()]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_runtime_files_and_state_dir_are_private(kernel, easlab_home):
    own = runtime.kernel_file(kernel.pid)
    assert _mode(own) == 0o600
    assert _mode(runtime.runtime_dir()) == 0o700
    assert _mode(easlab_home) == 0o700
    assert _mode(kernel.state_dir) == 0o700
    assert json.loads(own.read_text())["admin_token"] == kernel.admin_token
    assert runtime.admin_token_for(kernel.endpoint) == kernel.admin_token
    if runtime.runtime_file().exists():
        assert _mode(runtime.runtime_file()) == 0o600


def test_logs_never_show_a_token_in_full(kernel, victim):
    assert _mode(kernel.log_path) == 0o600  # the user's business only
    log = kernel.log_path.read_text()
    assert kernel.admin_token not in log
    assert victim["token"] not in log
    assert "admin token ****" + kernel.admin_token[-4:] in log
    service_log = kernel.state_dir / "logs" / "lock_victim.log"
    assert _mode(service_log) == 0o600
    lines = "\n".join(kernel.client.logs("lock_victim", 0))
    assert victim["token"] not in lines and kernel.admin_token not in lines


def _serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "EASLAB_ADMIN_TOKEN"}
    env["EASLAB_HOME"] = str(tmp_path / "home")
    return subprocess.run(
        [sys.executable, "-m", "easlab", "serve", "--port", "0", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_kernel_open_to_the_network_needs_an_explicit_token(tmp_path):
    result = _serve(tmp_path, "--host", "0.0.0.0", "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 2
    assert "EASLAB_ADMIN_TOKEN" in result.stderr and "--host 0.0.0.0" in result.stderr
    assert "listening" not in result.stdout
    short = _serve(tmp_path, "--admin-token", "short", "--state-dir", str(tmp_path / "s"))
    assert short.returncode == 2 and "too short" in short.stderr


def test_an_explicit_token_and_allowed_host_reach_a_kernel_on_all_interfaces(tmp_path):
    from easlab.client.control import KernelClient
    from easlab.client.local import LocalKernel

    token = "lan-token-" + "z" * 24
    with LocalKernel(port=0, host="0.0.0.0", state_dir=tmp_path / "s", admin_token=token) as remote:
        assert KernelClient(remote.endpoint, admin_token=token).info()["pid"] == remote.pid
        resp = requests.get(
            remote.endpoint + "/easlab/v1/kernel",
            headers={"Authorization": f"Bearer {token}", "Host": "my-laptop.lan:1"},
            timeout=5,
        )
        assert resp.status_code == 403  # not named with --allow-host


def test_guard_allow_host_and_origin_settings():
    from easlab.kernel.guard import ControlGuard

    token = "t" * 32
    auth = f"Bearer {token}"
    guard = ControlGuard(token, "0.0.0.0", allow_hosts=["my-laptop.lan"])
    assert guard.refuse(b"GET", "my-laptop.lan:8080", None, None, auth, False) is None
    assert guard.refuse(b"GET", "other.lan:8080", None, None, auth, False)[0] == 403
    assert ControlGuard(token, allow_hosts=["*"]).host_ok("anything:1")
    trusting = ControlGuard(token, allow_origins=["http://localhost:8888"])
    assert (
        trusting.refuse(b"GET", "127.0.0.1:1", "http://localhost:8888", None, auth, False) is None
    )
    assert (
        trusting.refuse(b"GET", "127.0.0.1:1", "http://localhost:9999", None, auth, False)[0] == 403
    )
    # JSON with a charset is JSON
    assert guard.refuse(b"POST", None, None, "application/json; charset=utf-8", auth, True) is None

"""Control-plane findings from using the CLI as a new user (one regression test each)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from kernel_helpers import ECHO_APP

from easlab import cli, runtime
from easlab.client.control import KernelClient


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("EASLAB_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_a_second_kernel_does_not_take_over_a_live_kernels_record(home, tmp_path):
    # `easlab test` (or a second `easlab serve`) in the same EASLAB_HOME used to
    # overwrite kernel.json, so `easlab ls` went to the wrong kernel, and then
    # removed it on exit, so the first kernel could no longer be found.
    first = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        runtime.write_runtime("http://127.0.0.1:1111", first.pid, tmp_path, None)
        runtime.write_runtime("http://127.0.0.1:2222", os.getpid(), tmp_path, None)
        assert runtime.read_runtime()["endpoint"] == "http://127.0.0.1:1111"
        runtime.remove_runtime(os.getpid())  # the second kernel stops
        assert runtime.read_runtime()["pid"] == first.pid
    finally:
        first.kill()
        first.wait()
    # a dead kernel's record is replaced
    runtime.write_runtime("http://127.0.0.1:2222", os.getpid(), tmp_path, None)
    assert runtime.read_runtime()["endpoint"] == "http://127.0.0.1:2222"


def test_a_dead_kernels_record_and_its_admin_token_go_when_a_kernel_starts(home, tmp_path):
    # A SIGKILLed kernel cannot remove its own file, which holds its admin token.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    runtime.write_runtime("http://127.0.0.1:1111", dead.pid, tmp_path, None, "dead-admin-token")
    assert runtime.kernel_file(dead.pid).exists()
    runtime.write_runtime("http://127.0.0.1:2222", os.getpid(), tmp_path, None, "live-token")
    assert not runtime.kernel_file(dead.pid).exists()
    assert runtime.kernel_file(os.getpid()).exists()  # the live one stays
    runtime.remove_runtime(os.getpid())


def test_modify_d_refuses_a_mistyped_key_and_says_which_was_meant(kernel, python_service, capsys):
    python_service("review_typo", ECHO_APP)
    e = ("--endpoint", kernel.endpoint)
    code = cli.main(["modify", "review_typo", "-Dmetadata.instanse=2", *e])
    err = capsys.readouterr().err
    assert code == 1
    assert "metadata.instanse: unknown key: did you mean 'metadata.instance'?" in err
    assert kernel.client.describe("review_typo")["spec"]["metadata"] == {"instance": 1}
    # the explicit opt-out keeps it, with the warning as before
    code = cli.main(["modify", "review_typo", "-Dmetadata.instanse=2", "--allow-unknown-keys", *e])
    out = capsys.readouterr().out
    assert code == 0 and "[WARN] unknown key 'metadata.instanse'" in out


def test_easlab_test_stops_its_kernel_on_sigterm(home, tmp_path, make_app):
    # A closed terminal or `kill` used to end the CLI only: the kernel runs in its own
    # session and lived on, serving the test service with nobody to stop it.
    import json
    import re
    import signal

    from kernel_helpers import wait_for

    spec = tmp_path / "t.json"
    spec.write_text(
        json.dumps(
            {
                "name": "review_sigterm",
                "processor_type": "python",
                "processor_path": str(make_app("review_sigterm", ECHO_APP)),
                "processor_entry": "app.py",
                "metadata": {"instance": 1},
            }
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "easlab.cli", "test", str(spec), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    kernel_pid = None
    try:
        assert proc.stdout is not None
        seen = ""
        for line in proc.stdout:
            seen += line
            if "Press Ctrl-C" in line:
                break
        found = re.search(r"--endpoint (http://[0-9.:]+)", seen)
        assert found, seen
        endpoint = found.group(1)
        # the admin token is found through the kernel's own runtime file
        kernel_pid = KernelClient(endpoint).info()["pid"]
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        wait_for(lambda: not runtime.pid_alive(kernel_pid), what="the kernel to stop")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if kernel_pid is not None and runtime.pid_alive(kernel_pid):
            os.kill(kernel_pid, signal.SIGKILL)


def test_json_output_into_a_closed_pipe_is_quiet(home):
    # `easlab desc x --json | head -3` printed a BrokenPipeError traceback.
    result = subprocess.run(
        f"{sys.executable} -m easlab.cli gpu --json | true",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr


def test_logs_n_is_checked(kernel, python_service):
    import requests

    python_service("review_logs", ECHO_APP)
    url = kernel.endpoint + "/easlab/v1/services/review_logs/logs"
    for bad in ("abc", "-2"):
        r = requests.get(url, params={"n": bad}, headers=kernel.admin_headers(), timeout=10)
        assert r.status_code == 400, r.text  # was a 500 "kernel fault" for "abc"
        assert "n" == r.json()["field"] and "0 for all" in r.json()["error"]
    everything = requests.get(
        url, params={"n": 0}, headers=kernel.admin_headers(), timeout=10
    ).json()["lines"]
    assert (
        everything
        and requests.get(url, params={"n": 1}, headers=kernel.admin_headers(), timeout=10).json()[
            "lines"
        ]
        == (everything[-1:])
    )

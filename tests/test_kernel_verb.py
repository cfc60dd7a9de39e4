"""One serving kernel per environment, with a lifecycle people can see.

``easlab kernel status|stop|restart`` (and ``%eas kernel``) show and control
the kernels of an EASLAB_HOME; a background kernel stops by itself after an
idle time and the next ``connect(start=True)`` says so; a notebook that
starts a kernel and goes away leaves one that ``easlab kernel status`` shows.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from easlab import cli, ops, runtime
from easlab.client.local import LocalKernel

APP = """
import allspark


class Echo(allspark.BaseProcessor):
    def process(self, data):
        return data, 200
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("EASLAB_HOME", str(home))
    monkeypatch.delenv("EASLAB_ENDPOINT", raising=False)
    monkeypatch.delenv("EASLAB_ADMIN_TOKEN", raising=False)
    return home


def _wait(condition, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _echo_spec(tmp_path: Path, name: str) -> dict:
    app = tmp_path / f"{name}_app"
    app.mkdir()
    (app / "app.py").write_text(APP)
    return {
        "name": name,
        "processor_type": "python",
        "processor_path": str(app),
        "processor_entry": "app.py",
        "metadata": {"instance": 1},
    }


def test_status_stop_and_restart_through_the_cli(home, tmp_path, capsys):
    assert cli.main(["kernel", "status"]) == 0
    assert "no easlab kernel running" in capsys.readouterr().out
    first = LocalKernel(port=0, state_dir=tmp_path / "s1")
    second = LocalKernel(port=0, state_dir=tmp_path / "s2")
    try:
        first.create(_echo_spec(tmp_path, "k_echo"))
        assert cli.main(["kernel"]) == 0  # status is the default action
        out = capsys.readouterr().out
        assert first.endpoint in out and second.endpoint in out
        rows = {r["endpoint"]: r for r in ops.kernel("status")}
        assert rows[first.endpoint]["services"] == 1 and rows[first.endpoint]["default"]
        assert rows[second.endpoint]["services"] == 0 and not rows[second.endpoint]["default"]
        assert cli.main(["kernel", "stop"]) == 0  # the default one
        assert f"[OK] kernel {first.endpoint}" in capsys.readouterr().out
        _wait(lambda: not first.running, what="the default kernel to stop")
        assert second.running
        assert cli.main(["kernel", "stop", "--all", "--json"]) == 0
        _wait(lambda: not second.running, what="the other kernel to stop")
        assert cli.main(["kernel", "status"]) == 0
        assert "no easlab kernel running" in capsys.readouterr().out
        rows = ops.kernel("restart")  # nothing to stop: starts one
        assert rows[-1]["state"] == "running" and runtime.read_runtime() is not None
    finally:
        first.stop()
        second.stop()
        ops.kernel("stop", all=True)


def test_an_idle_background_kernel_stops_and_the_next_connect_says_so(home, monkeypatch, capsys):
    import easlab

    monkeypatch.setenv("EASLAB_IDLE_TIMEOUT", "1")
    client = easlab.connect(start=True)
    pid = client.info()["pid"]
    assert client.info()["idle_timeout"] == 1.0
    _wait(lambda: not runtime.pid_alive(pid), what="the idle kernel to stop")
    assert runtime.read_runtime() is None
    capsys.readouterr()
    monkeypatch.setenv("EASLAB_IDLE_TIMEOUT", "0")
    again = easlab.connect(start=True)
    try:
        out = capsys.readouterr().out
        assert "stopped by itself after 1 s with no services and no requests" in out
        assert again.info()["pid"] != pid
    finally:
        again.shutdown()


def test_a_kernel_with_a_service_is_not_idle(home, tmp_path):
    with LocalKernel(port=0, state_dir=tmp_path / "s", idle_timeout=0.5) as k:
        k.create(_echo_spec(tmp_path, "busy"))
        time.sleep(2)  # four idle timeouts: the service keeps it alive
        assert k.running
        k.delete("busy")
        _wait(lambda: not k.running, what="the kernel to stop once idle")


def test_a_notebook_that_goes_away_leaves_a_visible_kernel(home, tmp_path, capsys):
    """The orphan check: the serving kernel a notebook started is never invisible."""
    import nbformat
    from nbclient import NotebookClient

    spec = _echo_spec(tmp_path, "orphan")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            f"import easlab\nsvc = easlab.create({spec!r})\nprint(svc.status)"
        )
    ]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    NotebookClient(nb, timeout=120, kernel_name="python3").execute(env=env)
    # the notebook's kernel has shut down; the serving kernel it started lives on ...
    assert "Running" in nb.cells[0].outputs[0]["text"]
    rows = ops.kernel("status")
    try:
        assert len(rows) == 1 and rows[0]["services"] == 1 and rows[0]["default"]
        assert rows[0]["idle_timeout"] == 3600.0  # ... and would stop by itself once idle
        assert cli.main(["kernel", "status"]) == 0
        assert rows[0]["endpoint"] in capsys.readouterr().out
    finally:
        ops.kernel("stop", all=True)
    assert ops.kernel("status") == []


def test_kernel_start_leaves_a_kernel_the_next_command_uses(home, tmp_path):
    """`easlab kernel start` in a terminal: the kernel outlives the command, `create` and
    the rest find it, and a second start says it runs already instead of starting another."""
    import subprocess
    import sys

    env = {**os.environ, "EASLAB_IDLE_TIMEOUT": "600"}

    def easlab(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "easlab", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    missing = easlab("ls")
    assert missing.returncode != 0 and "`easlab kernel start`" in missing.stderr
    try:
        started = easlab("kernel", "start")
        assert started.returncode == 0, started.stderr
        record = runtime.read_runtime()
        assert record is not None  # the command has exited; its kernel runs on
        assert f"[OK] kernel {record['endpoint']} (pid {record['pid']}) started" in started.stdout
        assert "stops by itself after 10 min with no services and no requests" in started.stdout
        spec = tmp_path / "service.json"
        spec.write_text(json.dumps(_echo_spec(tmp_path, "started_echo")))
        created = easlab("create", str(spec))
        assert created.returncode == 0, created.stderr
        again = easlab("kernel", "start")
        assert f"(pid {record['pid']}) already running" in again.stdout
        assert len(ops.kernel("status")) == 1
    finally:
        ops.kernel("stop", all=True)
    with pytest.raises(ValueError, match="--endpoint is started where it runs"):
        ops.kernel("start", kernel=object())  # type: ignore[arg-type]


def test_kernel_stop_says_stopped_only_for_a_kernel_it_stopped(home, tmp_path, capsys):
    # `easlab kernel stop --endpoint URL --admin-token WRONG` printed "[OK] kernel URL
    # (pid ...) stopped" and exited 0 while the kernel went on serving (the control API
    # refused the shutdown: it was never asked); so did a URL where nothing listens
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{s.getsockname()[1]}"
    with LocalKernel(port=0, state_dir=tmp_path / "s") as k:
        argv = ["kernel", "stop", "--endpoint", k.endpoint, "--admin-token", "not-the-token"]
        assert cli.main(argv) == 1
        out, err = capsys.readouterr()
        assert "stopped" not in out and "wrong admin token" in err
        assert "not-the-token" not in out + err
        assert k.running and k.client.info()["pid"]
        # status: it answered, refusing the token (it said "not answering: wrong admin token")
        assert cli.main(["kernel", "status", "--json", *argv[2:]]) == 0
        (row,) = json.loads(capsys.readouterr().out)
        assert row["state"].startswith("refused: wrong admin token"), row
        for action in ("stop", "restart"):
            assert cli.main(["kernel", action, "--endpoint", nowhere]) == 1
            out, err = capsys.readouterr()
            assert "stopped" not in out and f"no easlab kernel answers at {nowhere}" in err
        assert len(ops.kernel("status")) == 1  # restart started none

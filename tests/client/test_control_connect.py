"""connect() and KernelClient behaviour that needs no kernel: discovery order,
stale runtime files, connection refused, validation before any HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from easlab.client.connect import connect
from easlab.client.control import KernelClient, Service
from easlab.errors import KernelNotRunning, SpecError
from easlab.runtime import runtime_file
from tests.ports import free_port


@pytest.fixture
def home(monkeypatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("EASLAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EASLAB_ENDPOINT", raising=False)
    return tmp_path / "home"


def test_runtime_file_location(home: Path, monkeypatch):
    assert runtime_file() == home / "kernel.json"
    monkeypatch.delenv("EASLAB_HOME")
    assert runtime_file() == Path("~/.easlab/kernel.json").expanduser()


def test_explicit_endpoint_then_env(home: Path, monkeypatch):
    assert connect("127.0.0.1:9").endpoint == "http://127.0.0.1:9"
    monkeypatch.setenv("EASLAB_ENDPOINT", "http://127.0.0.1:7/")
    assert connect().endpoint == "http://127.0.0.1:7"
    assert connect("http://h:1").endpoint == "http://h:1"


def test_no_kernel_says_how_to_start(home: Path):
    with pytest.raises(KernelNotRunning) as info:
        connect()
    assert "easlab serve" in str(info.value) and "connect(start=True)" in str(info.value)


def test_stale_runtime_file_is_ignored(home: Path):
    home.mkdir(parents=True)
    # a pid that is certainly dead: a child that has exited and been reaped
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(child.stdout)
    runtime_file().write_text(
        json.dumps({"endpoint": f"http://127.0.0.1:{free_port()}", "pid": dead_pid})
    )
    with pytest.raises(KernelNotRunning):
        connect()
    # alive pid (ours) but nothing listens: also not a kernel
    runtime_file().write_text(
        json.dumps({"endpoint": f"http://127.0.0.1:{free_port()}", "pid": os.getpid()})
    )
    with pytest.raises(KernelNotRunning):
        connect()
    runtime_file().write_text("{not json")
    with pytest.raises(KernelNotRunning):
        connect()


def test_a_recorded_kernel_that_does_not_answer_is_named_with_its_url(home: Path):
    # was "no live kernel in kernel.json": the kernel it names there was not mentioned
    home.mkdir(parents=True)
    endpoint = f"http://127.0.0.1:{free_port()}"
    runtime_file().write_text(json.dumps({"endpoint": endpoint, "pid": os.getpid()}))
    with pytest.raises(KernelNotRunning) as info:
        connect()
    assert str(info.value).startswith(
        f"no easlab kernel answers at {endpoint}, the kernel {runtime_file()} records "
        f"(pid {os.getpid()}), and $EASLAB_ENDPOINT is unset: start one with `easlab kernel start`"
    )


def test_connect_without_a_kernel_ends_in_ipython_with_the_whole_message(home: Path):
    # what a notebook shows: the message, complete, as the last line of the error
    import re

    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    shell = InteractiveShell.instance()
    with capture_output() as shown:
        result = shell.run_cell("import easlab; easlab.connect()")
    assert isinstance(result.error_in_exec, KernelNotRunning)
    text = re.sub(r"\x1b\[[0-9;]*m", "", shown.stdout + shown.stderr)
    last = [line for line in text.splitlines() if line.strip()][-1]
    assert last == (
        f"KernelNotRunning: no running easlab kernel is recorded in {runtime_file()}, and "
        "$EASLAB_ENDPOINT is unset: start one with `easlab kernel start` (in the background) "
        "or `easlab serve` (in a terminal), or `easlab.connect(start=True)` / "
        "`easlab.LocalKernel()` in Python"
    )


def test_connection_refused_is_kernel_not_running():
    client = KernelClient(f"http://127.0.0.1:{free_port()}", timeout=5)
    with pytest.raises(KernelNotRunning, match="no easlab kernel answers at http://127.0.0.1"):
        client.list()


def test_create_validates_before_any_http():
    # the endpoint does not exist: a SpecError (not KernelNotRunning) proves
    # nothing was sent
    client = KernelClient(f"http://127.0.0.1:{free_port()}", timeout=5)
    with pytest.raises(SpecError) as info:
        client.create({"name": "x", "processor": "pmml", "metadata": {"instance": 1}})
    assert info.value.field == "model_path"


def test_modify_needs_exactly_one_kind_of_change():
    client = KernelClient("http://127.0.0.1:9")
    with pytest.raises(ValueError, match="exactly one"):
        client.modify("x")
    with pytest.raises(ValueError, match="exactly one"):
        client.modify("x", set={"metadata.instance": 1}, spec={"token": "t"})


def test_service_repr_masks_the_token():
    svc = Service(
        KernelClient("http://127.0.0.1:9"),
        {
            "name": "echo",
            "status": "Running",
            "token": "supersecrettoken",
            "endpoint": "http://127.0.0.1:9",
            "url": "http://127.0.0.1:9/api/predict/echo",
        },
    )
    text = repr(svc)
    assert "supersecrettoken" not in text and "****oken" in text
    assert "Running" in text and "/api/predict/echo" in text
    html = svc._repr_html_()
    assert "supersecrettoken" not in html and "<table>" in html
    assert (svc.name, svc.endpoint, svc.token) == ("echo", "http://127.0.0.1:9", "supersecrettoken")


def test_a_service_name_given_as_the_endpoint_is_named_as_such():
    # connect("mnist") reads "mnist" as a host; nothing answers there, and the error
    # says what connect() takes and how to reach the service instead
    client = connect("mnist")
    with pytest.raises(KernelNotRunning) as info:
        client.list()
    assert str(info.value) == (
        "no easlab kernel answers at http://mnist: connect()'s first argument is the "
        "kernel's endpoint (e.g. http://127.0.0.1:8080), not a service's name; for the "
        "service 'mnist' write `easlab.connect().service('mnist')`"
    )
    # a host with a port or a dot is an endpoint: the usual advice
    with pytest.raises(KernelNotRunning, match="start one with `easlab kernel start`"):
        KernelClient(f"127.0.0.1:{free_port()}", timeout=5).list()


@pytest.mark.parametrize("path", ["/api/predict/mnist", "/api/predict/"])
def test_a_service_url_given_to_connect_says_to_give_the_kernel_base(path):
    """svc.url pasted into connect(): before, each call went to /api/predict/mnist/easlab/v1/...
    and the kernel answered 404 "service 'mnist/easlab/v1/services' not found"."""
    with pytest.raises(ValueError) as info:
        connect(f"http://127.0.0.1:8080{path}")
    message = str(info.value)
    assert "service's URL" in message and "connect('http://127.0.0.1:8080')" in message


def test_a_client_for_another_thread_keeps_where_its_token_came_from(monkeypatch):
    # the monitor's and the queue view's threads copied the token into a new client, whose
    # refusal then said "the token given" for a token read from $EASLAB_ADMIN_TOKEN
    monkeypatch.setenv("EASLAB_ADMIN_TOKEN", "from-the-environment-token")
    client = KernelClient("http://127.0.0.1:9")
    other = client.with_own_session()
    assert other is not client and other.admin_token == client.admin_token
    assert other._token_note() == client._token_note()
    assert "came from $EASLAB_ADMIN_TOKEN" in other._token_note()

"""The easlab command against a real local kernel (LocalKernel on port 0)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import easlab
from easlab.cli import main

APP = """\
import allspark


class EchoProcessor(allspark.BaseProcessor):
    def initialize(self):
        self.prefix = {prefix!r}

    def process(self, data):
        return self.prefix + data, 200
"""


@pytest.fixture(scope="module")
def endpoint(kernel_endpoint: str) -> str:
    return kernel_endpoint  # conftest.py: a kernel of this module's own


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for version, prefix in (("v1", b"v1:"), ("v2", b"v2:")):
        (tmp_path / version).mkdir()
        (tmp_path / version / "app.py").write_text(APP.format(prefix=prefix))
    spec = {
        "name": "cli_echo",
        "token": "cli-secret-token",
        "processor_type": "python",
        "processor_path": "./v1",
        "processor_entry": "app.py",
        "metadata": {"instance": 1, "cpu": 1, "rpc.enable_jemalloc": 1},
    }
    (tmp_path / "service.json").write_text(json.dumps(spec))
    (tmp_path / "v2.yaml").write_text("processor_path: ./v2\n")
    return tmp_path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_flow(endpoint: str, project: Path, capsys, monkeypatch):
    monkeypatch.chdir(project)
    e = ("--endpoint", endpoint)

    code, out, err = run(capsys, "create", "service.json", *e)
    assert code == 0, err
    assert f"{endpoint}/api/predict/cli_echo" in out and "cli-secret-token" in out
    assert "[WARN] unknown key 'metadata.rpc.enable_jemalloc'" in out
    assert out.rstrip().endswith("[OK] Service is running")

    code, out, _ = run(capsys, "ls", *e)
    assert code == 0 and "cli_echo" in out and "Running" in out and "SERVICEPATH" in out
    code, out, _ = run(capsys, "list", "--json", *e)
    assert "cli_echo" in [d["name"] for d in json.loads(out)]

    code, out, _ = run(capsys, "desc", "cli_echo", *e)
    for key in (
        "Status",
        "TotalInstance",
        "RunningInstance",
        "PendingInstance",
        "LatestVersion",
        "CurrentVersion",
        "Endpoint",
        "Token",
        "ServiceConfig",
        "CreateTime",
    ):
        assert f"| {key}" in out, key
    assert "cli-secret-token" in out

    code, out, _ = run(capsys, "modify", "cli_echo", "-Dmetadata.instance=2", *e)
    assert code == 0 and "[Total: 2, Pending: 0, Running: 2]" in out
    code, out, _ = run(capsys, "w", "cli_echo", "--json", *e)
    assert len(json.loads(out)) == 2
    code, out, _ = run(capsys, "showworkers", "cli_echo", *e)
    assert code == 0 and "RESTARTS" in out and out.count("Running") == 2

    code, out, _ = run(capsys, "modify", "cli_echo", "-s", "v2.yaml", *e)
    assert code == 0 and "version 2 of 2" in out
    code, out, _ = run(capsys, "version", "cli_echo", "1", *e)
    assert code == 0 and "is at version 1" in out

    code, out, _ = run(capsys, "stop", "cli_echo", *e)
    assert code == 0 and "stopped" in out
    # a stopped service stays stopped: the new current version waits for `start`
    code, out, _ = run(capsys, "modify", "cli_echo", "-s", "v2.yaml", *e)
    assert code == 0 and "[OK] Service [cli_echo] is stopped: version 3 of 3" in out, out
    assert "`easlab start cli_echo` serves it" in out, out
    code, out, _ = run(capsys, "version", "cli_echo", "2", *e)
    assert code == 0 and "[OK] Service [cli_echo] is stopped: version 2 of 3" in out, out
    code, out, _ = run(capsys, "w", "cli_echo", "--json", *e)
    assert json.loads(out) == []
    code, out, _ = run(capsys, "start", "cli_echo", *e)
    assert code == 0 and "is running" in out

    code, out, _ = run(capsys, "logs", "cli_echo", "-n", "20", *e)
    assert code == 0

    code, out, err = run(capsys, "create", "service.json", "-r", "--json", *e)
    assert code == 0, err
    green = json.loads(out)["name"]
    assert green.startswith("cli_echo_")
    code, out, _ = run(capsys, "release", green, "-w", "20", "-y", *e)
    assert code == 0 and f"[OK] Service [{green}] is weighted to 20% now" in out
    code, out, _ = run(capsys, "delete", green, "-y", *e)
    assert code == 0 and "deleted successfully" in out

    code, out, _ = run(capsys, "delete", "cli_echo", "-y", "--json", *e)
    assert code == 0 and json.loads(out) == {"deleted": "cli_echo"}
    code, _, err = run(capsys, "desc", "cli_echo", *e)
    assert code == 1 and "cli_echo" in err and "Traceback" not in err


def test_cli_failed_create_prints_message_and_exits_1(endpoint: str, tmp_path: Path, capsys):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "app.py").write_text(
        "import allspark\n"
        "class P(allspark.BaseProcessor):\n"
        "    def initialize(self):\n"
        "        raise ValueError('cannot open model.bin')\n"
        "    def process(self, data):\n"
        "        return data, 200\n"
    )
    spec = tmp_path / "svc.yaml"
    spec.write_text(
        "name: cli_broken\nprocessor_type: python\nprocessor_path: app\n"
        "processor_entry: app.py\nmetadata:\n  instance: 1\n"
    )
    code, _, err = run(capsys, "create", str(spec), "--endpoint", endpoint)
    try:
        assert code == 1
        assert "[FAILED]" in err and "cannot open model.bin" in err
    finally:
        assert main(["delete", "cli_broken", "-y", "--endpoint", endpoint]) == 0


def test_cli_server_side_spec_error_is_one_line(endpoint: str, tmp_path: Path, capsys):
    spec = tmp_path / "svc.json"
    spec.write_text(
        json.dumps(
            {
                "name": "cli_missing",
                "processor_type": "python",
                "processor_path": "./nowhere",
                "processor_entry": "app.py",
                "metadata": {"instance": 1},
            }
        )
    )
    code, _, err = run(capsys, "create", str(spec), "--endpoint", endpoint)
    assert code == 1 and err.count("\n") == 1
    assert "processor_path" in err and "nowhere" in err


def test_cli_create_names_a_mistyped_queue_setting(endpoint: str, tmp_path: Path, capsys):
    # {"queue": {"max_lenght": 3}} was accepted without a word
    spec = tmp_path / "queue.json"
    meta = {"type": "Queue", "queue": {"max_lenght": 3}}
    spec.write_text(json.dumps({"name": "cli_qtypo", "metadata": meta}))
    code, _, err = run(capsys, "create", str(spec), "--endpoint", endpoint)
    assert code == 1 and err.count("\n") == 1
    assert (
        "metadata.queue.max_lenght: unknown key: did you mean 'metadata.queue.max_length'?" in err
    )
    e = ("--endpoint", endpoint)
    code, out, err = run(capsys, "create", str(spec), "--allow-unknown-keys", *e)
    try:
        assert code == 0, err
        assert "[WARN] unknown key 'metadata.queue.max_lenght' kept but not used" in out
    finally:
        run(capsys, "delete", "cli_qtypo", "-y", *e)


def _read_until(proc, pattern: str, timeout: float = 60) -> str:
    """Read the child's stdout until it matches ``pattern`` (with a deadline)."""
    import re
    import select
    import time

    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    seen = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            seen += chunk
            if re.search(pattern, seen.decode(errors="replace")):
                return seen.decode(errors="replace")
        elif proc.poll() is not None:
            break
    raise AssertionError(f"no output matching {pattern!r}; output so far:\n{seen.decode()}")


def _child_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["EASLAB_HOME"] = str(tmp_path / "home")
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("EASLAB_ENDPOINT", None)
    return env


def test_serve_and_shutdown(tmp_path: Path, capsys):
    import re
    import subprocess
    import sys

    from easlab.client.control import KernelClient

    token = "serve-test-token-0123456789"
    env = _child_env(tmp_path)  # another EASLAB_HOME: its runtime file is not ours to read
    env["EASLAB_ADMIN_TOKEN"] = token
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "easlab",
            "serve",
            "--port",
            "0",
            "--state-dir",
            str(tmp_path / "s"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        out = _read_until(proc, r"easlab kernel listening on http://")
        url = re.search(r"(http://\S+)", out).group(1)
        code, _, err = run(capsys, "ls", "--endpoint", url)
        assert code == 1 and "missing admin token" in err and token not in err
        # where a token would have come from, each said empty
        assert "no admin token was sent: none given (--admin-token, admin_token=)" in err
        assert "$EASLAB_ADMIN_TOKEN is unset" in err and f"records a kernel at {url}" in err
        code, _, err = run(capsys, "ls", "--endpoint", url, "--admin-token", "x" * 30)
        assert code == 1 and "wrong admin token" in err
        assert "came from the token given (--admin-token, admin_token=)" in err
        code, listing, _ = run(capsys, "ls", "--endpoint", url, "--admin-token", token)
        assert code == 0 and "no services" in listing
        KernelClient(url, admin_token=token).shutdown()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("given", ["debug.json", "-"])
def test_test_command_serves_until_ctrl_c(project: Path, given: str):
    # "-": the description piped in (it said "service description file not found: -")
    import re
    import signal
    import subprocess
    import sys

    import requests

    spec = json.loads((project / "service.json").read_text())
    del spec["metadata"]  # eascmd's own `test` example has no metadata
    (project / "debug.json").write_text(json.dumps(spec))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "easlab",
            "test",
            given,
            "--port",
            "0",
            "--state-dir",
            str(project / "state"),
        ],
        stdin=(project / "debug.json").open("rb") if given == "-" else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=project,
        env=_child_env(project),
    )
    try:
        out = _read_until(proc, r"Press Ctrl-C")
        assert "no metadata given" in out
        # an app whose code documents no request: eascmd's sample body
        assert "-d 'hello eas'" in out, out
        url = re.search(r"curl (http://\S+)", out).group(1)
        resp = requests.post(
            url, data=b"ping", headers={"Authorization": "cli-secret-token"}, timeout=10
        )
        assert resp.status_code == 200 and resp.content == b"v1:ping"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        log = project / "state" / "kernel.log"
        assert log.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with pytest.raises(requests.ConnectionError):  # the kernel went away with the command
        requests.post(url, data=b"x", timeout=5)


def test_delete_and_release_name_an_unknown_service_before_asking(
    endpoint: str, project: Path, capsys, monkeypatch
):
    # `easlab delete typo` in a script said "pass -y", and with -y only then "not found";
    # at a terminal it asked "Are you sure to delete the service [typo]?" first
    e = ("--endpoint", endpoint)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    for argv in (("delete", "no_such_svc"), ("release", "no_such_svc", "-w", "50")):
        code, out, err = run(capsys, *argv, *e)
        assert code == 1, err
        assert "service 'no_such_svc' not found" in err
        assert "pass -y" not in err
    monkeypatch.chdir(project)
    code, out, err = run(capsys, "create", "service.json", *e)
    assert code == 0, err
    # a service that is no blue-green sibling: said before asking (was: after the Y)
    code, out, err = run(capsys, "release", "cli_echo", "-w", "50", *e)
    assert code == 1 and "not a blue-green sibling" in err and "create -r" in err, err
    assert "pass -y" not in err
    # a sibling whose entry was deleted: said before asking too (was: "pass -y", and
    # after a Y the kernel's refusal)
    code, out, err = run(capsys, "create", "service.json", "-r", "--json", *e)
    assert code == 0, err
    green = json.loads(out)["name"]
    assert run(capsys, "delete", "cli_echo", "-y", *e)[0] == 0
    code, out, err = run(capsys, "release", green, "-w", "50", *e)
    assert code == 1 and "'cli_echo', the service" in err and "was deleted" in err, err
    assert "pass -y" not in err
    assert run(capsys, "delete", green, "-y", *e)[0] == 0
    code, out, err = run(capsys, "create", "service.json", *e)
    assert code == 0, err
    code, out, err = run(capsys, "delete", "cli_echo", *e)
    assert code == 2 and "stdin is not a terminal: pass -y" in err
    code, out, err = run(capsys, "delete", "cli_echo", "-y", *e)
    assert code == 0, err


@pytest.fixture
def cli_echo(endpoint: str, project: Path, capsys, monkeypatch) -> Iterator[tuple[str, str]]:
    """The project's cli_echo service, created by the CLI and deleted after the test."""
    monkeypatch.chdir(project)
    e = ("--endpoint", endpoint)
    code, out, err = run(capsys, "create", "service.json", *e)
    assert code == 0, err
    yield e
    run(capsys, "delete", "cli_echo", "-y", *e)


def test_modify_with_another_services_name_says_how_to_fix_it(cli_echo, project: Path, capsys):
    # it said only "the spec names 'other', not 'cli_echo'"
    (project / "other.json").write_text('{"name": "other", "metadata": {"instance": 1}}')
    code, out, err = run(capsys, "modify", "cli_echo", "-s", "other.json", *cli_echo)
    assert code == 1
    assert "the spec names 'other', not 'cli_echo'" in err
    assert "drop name from the file, or modify the service it names" in err


def test_a_mistyped_key_in_modify_names_modifys_own_flag(cli_echo, capsys):
    # the hint said "create with allow_unknown_keys=True" to someone running modify
    code, out, err = run(capsys, "modify", "cli_echo", "-Dmetadata.instanc=2", *cli_echo)
    assert code == 1
    assert "did you mean 'metadata.instance'?" in err
    assert "pass --allow-unknown-keys to create or modify" in err


def test_a_terminal_that_is_not_utf8_still_gets_desc_and_its_json(cli_echo, capsys, monkeypatch):
    # with an ASCII terminal (PYTHONIOENCODING=ascii, a C locale without UTF-8 mode),
    # `easlab desc` of a service whose description has an "è" printed nothing but
    # "easlab desc: 'ascii' codec can't encode character '\xe8'" and exited 2
    import io

    code, out, err = run(
        capsys, "modify", "cli_echo", "-Dmetadata.description=modèle ≥ 2", *cli_echo
    )
    assert code == 0, err
    for argv in (("desc", "cli_echo"), ("desc", "cli_echo", "--json")):
        raw = io.BytesIO()
        stdout = io.TextIOWrapper(raw, encoding="ascii", write_through=True)
        monkeypatch.setattr("sys.stdout", stdout)
        code = main([*argv, *cli_echo])
        assert code == 0, capsys.readouterr().err
        text = raw.getvalue().decode("ascii")
        if "--json" in argv:  # \u escapes: still JSON, and the same text once read
            assert json.loads(text)["spec"]["metadata"]["description"] == "modèle ≥ 2"
        else:
            assert "mod\\xe8le \\u2265 2" in text and "ServiceConfig" in text


@pytest.mark.parametrize("name", [".", "", "..", "a/b", "../services/x"])
def test_a_name_that_cannot_be_a_service_is_not_found(endpoint: str, name: str, capsys):
    # `easlab desc .` printed an empty Status/ServiceName table and exited 0 (the
    # URL's "." was dropped, and the service list was read as a description);
    # `easlab stop ..` said "/easlab/v1/services/stop takes DELETE, GET, PATCH, not POST"
    e = ("--endpoint", endpoint)
    for argv in (("desc", name), ("stop", name), ("w", name), ("delete", name, "-y")):
        code, out, err = run(capsys, *argv, *e)
        assert code == 1 and out == "", (argv, out)
        assert f"service {name!r} not found: not a service name (lowercase letters" in err, err
        assert "HTTP" not in err and "control call" not in err


def test_ctrl_c_while_waiting_says_the_service_goes_on(endpoint: str, tmp_path: Path):
    # Ctrl-C during `easlab create`'s "[OK] Waiting" lines printed an empty line and
    # exited 130: nothing said the service was still being created on the kernel
    import signal
    import subprocess
    import sys

    _slow_start_spec(tmp_path, "cli_slow")
    env = dict(os.environ, PYTHONUNBUFFERED="1")  # the module's kernel: its EASLAB_HOME
    argv = [sys.executable, "-m", "easlab", "create", "slow.json", "--endpoint", endpoint]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path, env=env
    )
    try:
        _read_until(proc, r"\[OK\] Waiting")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        assert "Traceback" not in err
        assert "stopped waiting; service cli_slow is Creating and goes on" in err, err
        assert "`easlab desc cli_slow` follows it" in err
        assert "`easlab delete cli_slow` removes it" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        (tmp_path / "go").touch()
        assert main(["delete", "cli_slow", "-y", "--endpoint", endpoint]) == 0


def test_end_of_input_at_the_delete_question_deletes_nothing(cli_echo, capsys, monkeypatch):
    # Ctrl-D at "Are you sure to delete the service [cli_echo]? [Y/n]" ended in an
    # EOFError traceback
    import io

    class EmptyTerminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", EmptyTerminal(""))
    code, out, err = run(capsys, "delete", "cli_echo", *cli_echo)
    assert code == 1
    assert "Are you sure to delete the service [cli_echo]?" in out
    assert "easlab delete: cancelled: no answer (end of input)" in err
    code, out, err = run(capsys, "desc", "cli_echo", *cli_echo)
    assert code == 0 and "Running" in out


def test_a_create_stopped_while_it_waits_does_not_say_running(
    endpoint: str, tmp_path: Path, capsys, monkeypatch
):
    # `easlab stop NAME` during create's wait (as its Waiting message suggests, to abort
    # the start) made the create print "[OK] Service is running" and exit 0
    from easlab import cli
    from easlab.client.control import KernelClient

    _slow_start_spec(tmp_path, "cli_stopped")
    shown = cli._Waiting.__call__

    def stop_once_waiting(self, desc):
        shown(self, desc)
        if desc.get("status") == "Creating":
            KernelClient(endpoint).stop("cli_stopped")  # another terminal's `easlab stop`

    monkeypatch.setattr(cli._Waiting, "__call__", stop_once_waiting)
    monkeypatch.chdir(tmp_path)
    try:
        code, out, err = run(capsys, "create", "slow.json", "--endpoint", endpoint)
        assert code == 1, (out, err)
        assert "Service is running" not in out
        assert "[STOPPED] Service cli_stopped was stopped before it ran" in err
        assert "`easlab start cli_stopped` starts it" in err
        # deleted while it starts: said so (was "service 'cli_stopped' not found (HTTP 404)")
        assert main(["delete", "cli_stopped", "-y", "--endpoint", endpoint]) == 0

        def delete_once_waiting(self, desc):
            shown(self, desc)
            if desc.get("status") == "Creating":
                KernelClient(endpoint).delete("cli_stopped")

        monkeypatch.setattr(cli._Waiting, "__call__", delete_once_waiting)
        capsys.readouterr()
        code, out, err = run(capsys, "create", "slow.json", "--endpoint", endpoint)
        assert code == 1, (out, err)
        assert "service cli_stopped was deleted while it was Creating" in err, err
    finally:
        (tmp_path / "go").touch()
        main(["delete", "cli_stopped", "-y", "--endpoint", endpoint])


def _slow_start_spec(tmp_path: Path, name: str) -> None:
    """``tmp_path/slow.json``: a python service whose initialize() waits until the file
    ``tmp_path/go`` exists (a create that stays Creating as long as the test wants)."""
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "app.py").write_text(
        "import os, time\nimport allspark\n"
        "class P(allspark.BaseProcessor):\n"
        "    def initialize(self):\n"
        f"        while not os.path.exists({str(tmp_path / 'go')!r}):\n"
        "            time.sleep(0.05)\n"
        "    def process(self, data):\n"
        "        return data, 200\n"
    )
    spec = {"name": name, "processor_type": "python", "processor_path": "./app"}
    spec |= {"processor_entry": "app.py", "metadata": {"instance": 1}}
    (tmp_path / "slow.json").write_text(json.dumps(spec))


def test_admin_token_env_beats_the_runtime_file_and_a_refusal_names_its_source(
    endpoint: str, capsys, monkeypatch
):
    # without --endpoint the runtime file's token was sent and $EASLAB_ADMIN_TOKEN was
    # ignored (with --endpoint the variable won): now the explicit setting comes first
    # everywhere, and a refused token says where it came from, never what it is
    import easlab
    from easlab.errors import KernelError

    stale = "stale-token-from-the-environment-1234"
    monkeypatch.delenv("EASLAB_ENDPOINT", raising=False)
    monkeypatch.setenv("EASLAB_ADMIN_TOKEN", stale)
    for where in ((), ("--endpoint", endpoint)):
        code, _, err = run(capsys, "ls", *where)
        assert code == 1, err
        assert "wrong admin token" in err and "came from $EASLAB_ADMIN_TOKEN" in err, err
        assert "unset EASLAB_ADMIN_TOKEN" in err and stale not in err
    with pytest.raises(KernelError, match=r"came from \$EASLAB_ADMIN_TOKEN") as refused:
        easlab.connect().list()
    assert refused.value.status == 401 and stale not in str(refused.value)
    code, _, err = run(capsys, "ls", "--admin-token", "wrong-token-given-on-the-line-5678")
    assert code == 1 and "came from the token given (--admin-token" in err and "5678" not in err, (
        err
    )
    monkeypatch.delenv("EASLAB_ADMIN_TOKEN")
    code, out, err = run(capsys, "ls")  # the runtime file's token, as before
    assert code == 0, err


def test_create_exist_ok_finds_the_service_of_this_same_description(
    endpoint: str, project: Path, capsys, monkeypatch
):
    """A script that creates its service on every run: eascmd's create refuses an
    existing name (exit 1, 409), and with --exist-ok the service deployed from this same
    file (its relative paths as deployed) is the one created; one that differs is still
    refused, naming the difference."""
    monkeypatch.chdir(project)
    spec = json.loads((project / "service.json").read_text())
    spec["name"] = "cli_exist"
    (project / "exist.json").write_text(json.dumps(spec))
    e = ("--endpoint", endpoint)
    assert run(capsys, "create", "exist.json", *e)[0] == 0
    try:
        code, _, err = run(capsys, "create", "exist.json", *e)
        assert code == 1 and "already exists" in err
        code, out, _ = run(capsys, "create", "exist.json", "--exist-ok", *e)
        assert code == 0
        assert "[OK] Service [cli_exist] exists, deployed from this same description: running" in (
            out
        )
        # the app edited in place: the same description, new code, a version to load it
        (project / "v1" / "app.py").write_text(APP.format(prefix=b"edited:"))
        code, out, _ = run(capsys, "create", "exist.json", "--exist-ok", *e)
        assert code == 0
        assert (
            "[OK] Service [cli_exist] exists, deployed from this same description; its model "
            "files changed since it loaded them: version 2 serves them"
        ) in out
        assert bytes(easlab.connect(endpoint).service("cli_exist").predict(b"x")) == b"edited:x"
        # modify naming the same path (-D or -s) after another edit: a version too
        (project / "v1" / "app.py").write_text(APP.format(prefix=b"again:"))
        code, out, _ = run(capsys, "modify", "cli_exist", "-Dprocessor_path=./v1", *e)
        assert code == 0 and "version 3 of 3" in out, out
        code, out, _ = run(capsys, "modify", "cli_exist", "-Dprocessor_path=./v1", *e)
        assert code == 0 and "version 3 of 3" in out, out  # nothing changed since
        # the same code saved again (a notebook's Run All writing it anew): its files
        # have a new modification time and the same bytes, the same version serves them
        app = project / "v1" / "app.py"
        app.write_bytes(app.read_bytes())
        os.utime(app, ns=(app.stat().st_atime_ns, app.stat().st_mtime_ns + 10**9))
        code, out, _ = run(capsys, "create", "exist.json", "--exist-ok", *e)
        assert code == 0
        assert "exists, deployed from this same description: running" in out, out
        desc = easlab.connect(endpoint).describe("cli_exist")
        assert (desc["current_version"], desc["latest_version"]) == (3, 3)
        spec["metadata"]["instance"] = 2
        (project / "exist.json").write_text(json.dumps(spec))
        code, _, err = run(capsys, "create", "exist.json", "--exist-ok", *e)
        assert code == 1 and "deployed from another description" in err
        assert "~ metadata.instance: 1 -> 2" in err
    finally:
        assert main(["delete", "cli_exist", "-y", *e]) == 0


def test_a_description_piped_in_as_dash_is_created_and_modified(
    endpoint: str, project: Path, capsys, monkeypatch
):
    # `cat service.json | easlab create -` said "service description file not found: -";
    # so did `easlab modify NAME -s -`
    import io

    monkeypatch.chdir(project)
    e = ("--endpoint", endpoint)
    spec = json.loads((project / "service.json").read_text())
    spec["name"] = "cli_piped"
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(spec)))
    code, out, err = run(capsys, "create", "-", *e)
    try:
        assert code == 0, err
        assert out.rstrip().endswith("[OK] Service is running")
        # its relative processor_path is from the current folder, as for JSON text
        desc = easlab.connect(endpoint).describe("cli_piped")
        assert desc["spec"]["processor_path"] == str(project / "v1")
        monkeypatch.setattr("sys.stdin", io.StringIO("processor_path: ./v2\n"))
        code, out, err = run(capsys, "modify", "cli_piped", "-s", "-", *e)
        assert code == 0, err
        assert "[OK] Service [cli_piped] is updated: version 2 of 2" in out
        monkeypatch.setattr("sys.stdin", io.StringIO(""))
        code, out, err = run(capsys, "modify", "cli_piped", "-s", "-", *e)
        assert code == 2
        assert "`modify -s -` reads the service description from stdin, and stdin was empty" in err
    finally:
        run(capsys, "delete", "cli_piped", "-y", *e)


def test_a_windows_saved_description_with_bom_and_crlf_is_read(
    endpoint: str, project: Path, capsys, monkeypatch
):
    # Notepad's UTF-8 starts with a byte order mark: "invalid JSON in service.json at
    # line 1, column 1: Unexpected UTF-8 BOM"
    monkeypatch.chdir(project)
    e = ("--endpoint", endpoint)
    spec = json.loads((project / "service.json").read_text())
    spec["name"] = "cli_bom"
    text = json.dumps(spec, indent=2).replace("\n", "\r\n")
    (project / "bom.json").write_bytes(b"\xef\xbb\xbf" + text.encode())
    (project / "bom.yaml").write_bytes(b"\xef\xbb\xbfprocessor_path: ./v2\r\n")
    code, out, err = run(capsys, "create", "bom.json", *e)
    try:
        assert code == 0, err
        code, out, err = run(capsys, "modify", "cli_bom", "-s", "bom.yaml", *e)
        assert code == 0, err
        assert "[OK] Service [cli_bom] is updated: version 2 of 2" in out
    finally:
        run(capsys, "delete", "cli_bom", "-y", *e)


def test_release_asks_eascmds_question_and_w_shows_ready_as_eascmd(cli_echo, capsys, monkeypatch):
    # the question was "Send 20% of the traffic to [NAME]?", eascmd's is "Confirmed to
    # release this service at weight [20%]? [Y/n]"; `w`'s READY said "True" where eascmd
    # (and the PAI-EAS target) say ready/total processes, "1/1"
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    code, out, err = run(capsys, "create", "service.json", "-r", "--json", *cli_echo)
    assert code == 0, err
    green = json.loads(out)["name"]
    try:
        monkeypatch.setattr("sys.stdin", Terminal("Y\n"))
        code, out, err = run(capsys, "release", green, "-w", "20", *cli_echo)
        assert code == 0, err
        assert f"Confirmed to release the service [{green}] at weight [20%]? [Y/n]" in out
        assert f"[OK] Service [{green}] is weighted to 20% now" in out
        code, out, err = run(capsys, "w", "cli_echo", *cli_echo)
        assert code == 0, err
        row = next(line for line in out.splitlines() if "cli_echo-0" in line)
        assert "| Running | 1/1 " in row, out
        code, out, err = run(capsys, "w", "cli_echo", "--json", *cli_echo)
        assert json.loads(out)[0]["ready"] is True
    finally:
        run(capsys, "delete", green, "-y", *cli_echo)


def test_pai_eas_options_on_a_local_command_are_refused_before_it_acts(cli_echo, capsys):
    # `easlab delete NAME -y --region cn-hangzhou` deleted the local kernel's service:
    # the region (and --oss, --pai-endpoint, --pai-timeout) went unread
    for argv, said in (
        (("delete", "cli_echo", "-y", "--region", "cn-hangzhou"), "--region cn-hangzhou"),
        (("modify", "cli_echo", "-Dmetadata.instance=2", "--oss", "oss://b8/x"), "--oss"),
        (("stop", "cli_echo", "--target", "local", "--region", "cn-hangzhou"), "--region"),
    ):
        code, out, err = run(capsys, *argv, *cli_echo)
        assert code == 2, (argv, out, err)
        assert f"easlab {argv[0]}: {said}" in err
        assert (
            "PAI-EAS's option, and this command goes to the local kernel; add --target pai" in err
        )
    assert "or --endpoint pai://cn-hangzhou" in run(capsys, "ls", "--region", "cn-hangzhou")[2]
    code, out, err = run(capsys, "desc", "cli_echo", *cli_echo)
    assert code == 0 and "| Running" in out and "| 1 " in out  # not deleted, not scaled


def test_release_takes_a_weight_written_as_a_percentage(endpoint: str, capsys, monkeypatch):
    """`-w 30%` (as the console writes weights) was argparse's "invalid int value: '30%'";
    it is 30 now, and a weight that is no number says what to give."""
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, out, err = run(capsys, "release", "no_such_svc", "-w", "30%", "--endpoint", endpoint)
    assert code == 1 and "service 'no_such_svc' not found" in err, err
    with pytest.raises(SystemExit):
        run(capsys, "release", "no_such_svc", "-w", "thirty", "--endpoint", endpoint)
    err = capsys.readouterr().err
    assert "'thirty' is not a whole percentage: give 0-100, e.g. -w 30 (or -w 30%)" in err, err


@pytest.mark.parametrize("verb", ["test", "serve"])
def test_a_port_already_taken_is_one_line_naming_the_port_flag(
    project: Path, verb: str, tmp_path: Path
):
    # the pysdk loop's `ENV/bin/python app.py` still holding 8080 when `easlab test` starts
    # on its default 8080: it said "cannot listen on 127.0.0.1:P: [Errno 98] error while
    # attempting to bind on address ('127.0.0.1', P): address already in use", under "the
    # easlab kernel exited with code 1 before listening:", with no way out named
    import socket
    import subprocess
    import sys

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        argv = [sys.executable, "-m", "easlab", verb]
        argv += ["service.json"] if verb == "test" else []
        argv += ["--port", str(port), "--state-dir", str(tmp_path / "s")]
        done = subprocess.run(
            argv, cwd=project, env=_child_env(project), capture_output=True, text=True, timeout=120
        )
    finally:
        holder.close()
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in lines[0]
    assert "--port 0" in lines[0] and "Traceback" not in done.stderr


def test_easlab_test_killed_outright_takes_its_kernel_with_it(project: Path):
    """`easlab test` starts its kernel in a session of its own (a Ctrl-C reaches only the
    command, which stops the kernel). Killed outright (SIGKILL, the OOM killer), it could
    stop nothing, and its kernel served on with nobody to stop it; the kernel now stops
    once the command that started it has ended (--exit-with)."""
    import re
    import signal
    import subprocess
    import sys

    import requests

    proc = subprocess.Popen(
        [sys.executable, "-m", "easlab", "test", "service.json", "--port", "0",
         "--state-dir", str(project / "state-killed")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=project, env=_child_env(project),
    )  # fmt: skip
    try:
        out = _read_until(proc, r"Press Ctrl-C")
        url = re.search(r"curl (http://\S+)", out).group(1)
        assert requests.post(url, data=b"ping", timeout=10).status_code in (200, 401)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def refused() -> bool:
        try:
            requests.post(url, data=b"x", timeout=2)
        except requests.ConnectionError:
            return True
        return False

    wait_for_condition = time.monotonic() + 20
    while not refused():
        assert time.monotonic() < wait_for_condition, "the kernel still serves"
        time.sleep(0.2)
    log = (project / "state-killed" / "kernel.log").read_text()
    assert "which started it, ended; stopping" in log, log

"""The easlab command where no kernel is involved: errors, prompts, gpu, tables."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import pytest

from easlab._table import format_table
from easlab.cli import format_desc, format_services, format_workers, main


@pytest.fixture
def nowhere(monkeypatch, tmp_path: Path) -> str:
    """An endpoint where nothing listens, and no runtime file."""
    monkeypatch.setenv("EASLAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EASLAB_ENDPOINT", raising=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_no_kernel_is_one_line_and_exit_1(nowhere: str, capsys):
    assert main(["ls"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "easlab serve" in err
    assert main(["desc", "x", "--endpoint", nowhere]) == 1
    assert "no easlab kernel answers at " + nowhere in capsys.readouterr().err


def test_invalid_spec_fails_before_contacting_the_kernel(nowhere: str, tmp_path: Path, capsys):
    f = tmp_path / "svc.json"
    f.write_text(json.dumps({"name": "Bad-Name", "processor": "pmml", "metadata": {"instance": 1}}))
    assert main(["create", str(f), "--endpoint", nowhere]) == 1
    err = capsys.readouterr().err
    assert "name: 'Bad-Name' is not a valid service name" in err
    f.write_text('{"name": "x",\n "metadata": }')
    assert main(["create", str(f), "--endpoint", nowhere]) == 1
    assert "line 2, column" in capsys.readouterr().err


def test_a_missing_file_is_named_before_the_missing_kernel(nowhere: str, capsys):
    # with no kernel found, `easlab create typo.json` said to start a kernel, and only
    # once one ran, that the file is not there
    assert main(["create", "no-such-service.json"]) == 1
    err = capsys.readouterr().err
    assert "service description file not found: no-such-service.json" in err
    assert "easlab serve" not in err


def test_release_weight_range_checked(nowhere: str, capsys):
    assert main(["release", "echo_x", "-w", "120", "-y", "--endpoint", nowhere]) == 2
    assert "between 0 and 100" in capsys.readouterr().err


def test_modify_needs_d_or_s(nowhere: str, capsys):
    assert main(["modify", "echo", "--endpoint", nowhere]) == 2
    assert "-Dkey=value overrides or -s" in capsys.readouterr().err
    assert main(["modify", "echo", "-Dmetadata.instance", "--endpoint", nowhere]) == 2
    assert "write -Dkey=value" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["release", "x"])  # -w is required
    assert info.value.code == 2


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["craete", "svc.json"], "'craete' is not a command; did you mean `easlab create`?"),
        (["--target", "pai", "lss"], "'lss' is not a command; did you mean `easlab ls`?"),
        (["--endpoint", "http://127.0.0.1:1", "zzzz"], "'zzzz' is not a command; `easlab -h`"),
    ],
)
def test_a_mistyped_command_is_named_with_the_one_meant(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err


def test_the_command_word_skips_the_global_options_values():
    import argparse

    from easlab.cli import _VALUED_GLOBALS, _command_word, build_parser

    parser = build_parser()
    valued = {
        opt
        for action in parser._actions
        if type(action) is argparse._StoreAction  # an option that takes a value
        for opt in action.option_strings
    }
    assert set(_VALUED_GLOBALS) == valued
    assert _command_word(["--region", "cn-ls", "--json", "desc", "x"]) == "desc"
    assert _command_word(["--oss=oss://b/p", "ls"]) == "ls"


def test_gpu_command_with_stand_in_nvidia_smi(monkeypatch, tmp_path: Path, capsys):
    # stand-in for nvidia-smi: no GPU exists on the test machine
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        '  *--query-gpu*) echo "0, Tesla T4, 15360, 15000, 470.82.01, GPU-aaaa" ;;\n'
        '  *) echo "| NVIDIA-SMI 470.82.01  Driver Version: 470.82.01  CUDA Version: 11.4 |" ;;\n'
        "esac\n"
    )
    smi.chmod(smi.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("EASLAB_DISABLE_NVML", "1")
    assert main(["gpu"]) == 0
    out = capsys.readouterr().out
    assert "Tesla T4" in out and "15360 MiB" in out and "11.4" in out
    assert main(["gpu", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["source"] == "nvidia-smi" and data["gpus"][0]["cuda_version"] == "11.4"
    smi.unlink()
    assert main(["gpu"]) == 0
    assert capsys.readouterr().out.startswith("no GPU found")


def test_table_rendering():
    table = format_table(["A", "LONGER"], [["x", 1], ["yy\nzz", None]])
    assert table.splitlines() == [
        "+----+--------+",
        "| A  | LONGER |",
        "+----+--------+",
        "| x  | 1      |",
        "| yy |        |",
        "| zz |        |",
        "+----+--------+",
    ]


DESC = {
    "name": "echo",
    "status": "Running",
    "message": "",
    "endpoint": "http://127.0.0.1:1",
    "service_path": "/api/predict/echo",
    "url": "http://127.0.0.1:1/api/predict/echo",
    "token": "tok",
    "processor": "python",
    "total_instance": 2,
    "running_instance": 2,
    "pending_instance": 0,
    "cpu": 1,
    "gpu": 1,
    "memory": 2000,
    "latest_version": 2,
    "current_version": 1,
    "weight": 80,
    "traffic": {"echo": 80, "echo_ab12": 20},
    "cpu_fallback": True,
    "create_time": "2024-01-01T00:00:00",
    "update_time": "2024-01-01T00:00:01",
    "warnings": ["unknown key 'x' kept"],
    "spec": {"name": "echo", "metadata": {"instance": 2}},
}


def test_desc_ls_and_workers_tables():
    desc = format_desc(DESC)
    for text in (
        "| Status ",
        "| TotalInstance   | 2",
        "| CurrentVersion  | 1",
        "| Token ",
        "1 (cpu fallback)",
        "2000M",
        "echo_ab12: 20%",
        '"instance": 2',
        "unknown key 'x' kept",
        "http://127.0.0.1:1/api/predict/echo",
    ):
        assert text in desc, text
    assert "| Python " not in desc  # the kernel's own Python: no row
    env = "/cache/ab12/ENV/bin/python"
    lines = format_desc({**DESC, "processor": "python", "python": env}).splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("| Processor "))
    assert [c.strip() for c in lines[row + 1].split("|")[1:3]] == ["Python", env]
    ls = format_services([DESC])
    header = ls.splitlines()[1]
    assert [c.strip() for c in header.strip("|").split("|")][:9] == [
        "NAME",
        "REGION",
        "INSTANCE",
        "CPU",
        "MEMORY",
        "GPU",
        "STATUS",
        "WEIGHT",
        "SERVICEPATH",
    ]
    assert "| echo " in ls and "local" in ls and "/api/predict/echo" in ls
    assert "no services" in format_services([])
    w = format_workers(
        [
            {
                "name": "echo-0",
                "ip": "127.0.0.1",
                "port": 5,
                "pid": 42,
                "start_time": "t",
                "restarts": 3,
                "status": "Running",
                "ready": "[1/1]",
                "reason": "",
                "gpus": [0],
            }
        ]
    )
    assert "RESTARTS" in w and "| 3 " in w and "127.0.0.1:5" in w


def test_a_folder_given_to_create_is_named_in_the_suggested_model_path(
    nowhere: str, tmp_path: Path, capsys
):
    # the message ended "or put model_path: {path} in one", the braces printed as they are
    folder = tmp_path / "model_dir"
    folder.mkdir()
    assert main(["create", str(folder), "--endpoint", nowhere]) == 1
    err = capsys.readouterr().err
    assert f'put "model_path": "{folder}" in one' in err
    assert "{path}" not in err


def test_waiting_is_said_again_when_it_changes_not_each_second(capsys):
    # the kernel's message counts the seconds an instance has spent in initialize():
    # each poll printed a new 300-character "[OK] Waiting ..." line, one a second
    from easlab.cli import _Waiting

    def desc(seconds: int, pending: int = 1) -> dict:
        return {
            "name": "slow",
            "total_instance": 1,
            "pending_instance": pending,
            "running_instance": 1 - pending,
            "message": f"waiting for 1 instance(s) to finish initialize(): slow-0 (pid 7, "
            f"{seconds} s); one still starting after 300 s is killed",
        }

    waiting = _Waiting(quiet=False)
    for seconds in range(0, 65):
        waiting(desc(seconds))
    waiting({**desc(65, pending=0), "message": ""})
    lines = capsys.readouterr().out.splitlines()
    # the first, one every 30 s while nothing else changes, and the change
    assert [line.split("(pid 7, ")[-1][:4] for line in lines[:3]] == ["0 s)", "30 s", "60 s"]
    assert lines[3] == "[OK] Waiting [Total: 1, Pending: 0, Running: 1]"
    assert len(lines) == 4


@pytest.mark.parametrize("value", ["-1", "0", "nan", "soon"])
def test_a_wait_timeout_that_is_no_time_is_a_usage_error(value: str, nowhere: str, capsys):
    # --timeout -1 was taken: the create was sent, then "still Creating after -1 s"
    with pytest.raises(SystemExit) as exit_:
        main(["start", "svc", "--timeout", value, "--endpoint", nowhere])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--timeout" in err and "a number of seconds greater than 0" in err, err


@pytest.mark.parametrize("endpoint", ["ftp://x", "http://[::1", "http://:8080"])
def test_an_endpoint_that_is_no_url_is_said_so(endpoint: str, capsys):
    # it said "the kernel at ftp://x broke off its answer to GET /services
    # (InvalidSchema); was it stopped?" as if a kernel had been there
    assert main(["ls", "--endpoint", endpoint]) == 2
    err = capsys.readouterr().err
    assert f"endpoint {endpoint!r} is not a kernel's URL: give http://HOST:PORT" in err, err
    assert "broke off" not in err


def test_a_bare_word_endpoint_is_answered_in_the_commands_terms(nowhere: str, capsys, monkeypatch):
    # `easlab --endpoint notaurl ls` said "connect()'s first argument is the kernel's
    # endpoint ... write `easlab.connect().service('notaurl')`": Python advice on a shell
    assert main(["--endpoint", "notaurl", "ls"]) == 1
    err = capsys.readouterr().err
    assert "--endpoint takes a kernel's endpoint, not a service's name" in err, err
    assert "http://127.0.0.1:PORT" in err and "`easlab kernel status` shows it" in err
    assert "pai://REGION" in err and "`easlab desc notaurl`" in err
    assert "connect()" not in err and "easlab.connect" not in err
    # so too when the word came from $EASLAB_ENDPOINT: that variable is named
    monkeypatch.setenv("EASLAB_ENDPOINT", "notaurl")
    assert main(["ls"]) == 1
    err = capsys.readouterr().err
    assert "$EASLAB_ENDPOINT takes a kernel's endpoint, not a service's name" in err, err
    assert "unset EASLAB_ENDPOINT to use the running kernel" in err and "connect()" not in err


def test_an_error_without_an_http_answer_does_not_say_http_0(tmp_path: Path, monkeypatch, capsys):
    # "EASLAB_IDLE_TIMEOUT='abc' is not a number of seconds (0 for never) (HTTP 0)":
    # no HTTP exchange took place (so too "did not answer in time", "broke off its answer")
    monkeypatch.setenv("EASLAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("EASLAB_IDLE_TIMEOUT", "abc")
    assert main(["kernel", "start"]) == 1
    err = capsys.readouterr().err
    assert "EASLAB_IDLE_TIMEOUT='abc' is not a number of seconds (0 for never)" in err
    assert "HTTP 0" not in err


def test_every_option_of_every_command_says_what_it_does():
    # `easlab test -h` listed --host, --port, --state-dir and --allow-cpu-fallback with no
    # word on them (so did serve's --host, seldon's --service-type, --log-level, --access-log)
    import argparse

    from easlab.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    silent = [
        f"{name} {'/'.join(action.option_strings) or action.dest}"
        for name, command in commands.choices.items()
        for action in command._actions
        if not action.help and not isinstance(action, argparse._HelpAction)
    ]
    assert silent == []


def test_seldon_names_a_missing_component_and_a_busy_port(tmp_path: Path, monkeypatch, capsys):
    # `easlab seldon Nope` (no ./Nope.py) and a --http-port in use ended in a
    # ModuleNotFoundError / "OSError: [Errno 98]" traceback; a bad --parameters said only
    # "Expecting ',' delimiter: line 1 column 13 (char 12)"
    monkeypatch.chdir(tmp_path)
    assert main(["seldon", "Nope", "--http-port", "0", "--metrics-port", "0"]) == 2
    err = capsys.readouterr().err
    assert f"easlab seldon: no Nope.py in {tmp_path}: seldon-core-microservice imports" in err
    (tmp_path / "MyModel.py").write_text(
        "class MyModel:\n    def predict(self, X, names=None):\n        return X\n"
    )
    args = ["seldon", "MyModel", "--metrics-port", "0"]
    assert main([*args, "--parameters", '[{"name": "a"']) == 2
    assert "--parameters: invalid JSON at line 1, column 14" in capsys.readouterr().err
    # a value that is not its type, and one __init__ does not take: tracebacks too
    alpha = '[{"name": "alpha", "value": "%s", "type": "FLOAT"}]'
    assert main([*args, "--parameters", alpha % "x"]) == 2
    err = capsys.readouterr().err
    assert "easlab seldon: --parameters: Bad model parameter: alpha with value x can't" in err
    assert main([*args, "--http-port", "0", "--parameters", alpha % "0.5"]) == 2
    err = capsys.readouterr().err
    assert "easlab seldon: --parameters (alpha) do not fit MyModel(...): got an unexpected" in err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main([*args, "--http-port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"easlab seldon: error: --http-port {port} on 127.0.0.1 is in use" in err, err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["config", "-i", "id"], "needs no cloud credentials"),
        (["resource", "ls"], "`easlab gpu` lists its GPUs"),
        (["--json", "resource", "desc", "eas-r-x"], "for PAI-EAS's own use eascmd resource"),
    ],
)
def test_eascmd_verbs_with_no_local_meaning_say_what_to_use(argv, words, capsys):
    # `easlab resource ls` (eascmd's resource groups) said only "'resource' is not a command"
    assert main(argv) == 2
    err = capsys.readouterr().err
    verb = next(word for word in argv if not word.startswith("-"))
    assert err.startswith(f"easlab {verb}: not an easlab command")
    assert words in err


def test_table_columns_line_up_with_chinese_text():
    # a Chinese description (EAS's manuals and messages are Chinese) pushed its row's
    # right border one column further per character: each takes two columns in a terminal
    table = format_table(["KEY", "VALUE"], [["description", "图像分类服务"], ["cpu", "1"]])
    lines = table.splitlines()
    assert lines[3] == "| description | 图像分类服务 |"
    assert lines[4] == "| cpu         | 1            |"
    assert lines[0] == "+-------------+--------------+"


def test_output_that_cannot_be_written_is_one_line(nowhere: str, monkeypatch, capsys):
    # `easlab ls --json > /dev/full` (a full disk) ended in an OSError traceback
    import errno
    import io

    class FullDisk(io.TextIOWrapper):
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

    full = FullDisk(io.BytesIO(), encoding="utf-8")
    monkeypatch.setattr("sys.stdout", full)
    monkeypatch.setattr("os.dup2", lambda fd, fd2: None)  # the real stdout stays
    assert main(["kernel", "status"]) == 1
    err = capsys.readouterr().err
    assert err == "easlab kernel: cannot write the output: No space left on device\n"


def test_an_endpoint_that_is_no_kernel_is_not_answered_with_its_html(tmp_path: Path, capsys):
    # `easlab ls --endpoint` at another web server printed its whole HTML error page
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args) -> None:  # noqa: A002
            pass

    handler = functools.partial(Quiet, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert main(["ls", "--endpoint", endpoint]) == 1
    finally:
        server.shutdown()
        server.server_close()
    err = capsys.readouterr().err
    assert "<html" not in err.lower() and err.count("\n") == 1, err
    assert f"{endpoint} answered GET /services with an HTML page, not the control API" in err
    assert "is it an easlab kernel?" in err and err.rstrip().endswith("(HTTP 404)")


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("    def load(self):\n        open('weights.pt')\n", "FileNotFoundError"),
        ("    def __init__(self):\n        raise ValueError('bad config')\n", "ValueError"),
    ],
    ids=["load", "init"],
)
def test_seldon_says_the_component_failed_to_build_with_its_traceback(
    tmp_path: Path, monkeypatch, capsys, body, kind
):
    # a component whose load() raised an OSError said only "easlab seldon: error: [Errno 2]
    # No such file or directory: 'weights.pt'", one whose __init__ raised a ValueError
    # "easlab seldon: bad config" with exit 2 (a usage mistake): neither said the
    # component raised it, nor where
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Broken.py").write_text(
        f"class Broken:\n{body}    def predict(self, X, names=None):\n        return X\n"
    )
    assert main(["seldon", "Broken", "--http-port", "0", "--metrics-port", "0"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert 'Broken.py", line 3' in err  # the component's own line
    assert f"easlab seldon: error: the component Broken failed to start: {kind}: " in err, err


@pytest.mark.parametrize(
    ("argv", "command", "flag"),
    [
        (["delete", "echo", "--yes"], "delete", "--yes"),
        (["--bogus", "ls"], "ls", "--bogus"),
        (["desc", "echo", "-y"], "desc", "-y"),
    ],
)
def test_a_flag_the_command_lacks_is_told_with_that_commands_usage(argv, command, flag, capsys):
    # it was easlab's own usage ("easlab [-h] [--version] ... COMMAND ..."), which lists
    # none of the options of the command typed, and "easlab: error: unrecognized arguments"
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: easlab {command} [-h]")
    assert f"easlab {command}: error: unrecognized arguments: {flag}" in err
    assert f"`easlab {command} -h` lists its options" in err


def test_eascmd_upload_inner_is_taken(nowhere: str, tmp_path: Path, capsys):
    # `eascmd upload FILE --inner` (from PAI-DSW) was "unrecognized arguments: --inner"
    (tmp_path / "model.tar.gz").write_bytes(b"x")
    assert main(["upload", str(tmp_path / "model.tar.gz"), "--inner"]) == 0
    assert "[OK] nothing to upload" in capsys.readouterr().out


def test_a_description_saved_by_windows_powershell_or_left_empty(
    nowhere: str, tmp_path: Path, capsys
):
    # PowerShell 5's `>` writes UTF-16: "service.json is not UTF-8 text (invalid start
    # byte)"; an empty file: "invalid JSON at line 1, column 1: Expecting value"
    (tmp_path / "model.pmml").write_text("<PMML/>")
    spec = {
        "name": "ps_made",
        "processor": "pmml",
        "model_path": "./model.pmml",
        "metadata": {"instance": 1},
    }
    utf16 = tmp_path / "service.json"
    utf16.write_bytes(json.dumps(spec, indent=2).replace("\n", "\r\n").encode("utf-16"))
    assert main(["create", str(utf16), "--dry-run", "--endpoint", nowhere]) == 0, (
        capsys.readouterr().err
    )
    assert '+ name: "ps_made"' in capsys.readouterr().out
    for name in ("empty.json", "empty.yaml"):
        (tmp_path / name).write_text("\n")
        assert main(["create", str(tmp_path / name), "--endpoint", nowhere]) == 1
        err = capsys.readouterr().err
        assert f"{tmp_path / name} is empty: write the service description in it" in err


def test_a_model_or_code_file_given_as_the_description_is_named_in_one(
    nowhere: str, tmp_path: Path, capsys
):
    # `easlab create model.tar.gz` said "model.tar.gz is not UTF-8 text (invalid start
    # byte); save it as UTF-8", `easlab test app.py` "invalid YAML in app.py at line 2"
    import tarfile

    (tmp_path / "app.py").write_text("import allspark\nclass P(allspark.BaseProcessor): pass\n")
    with tarfile.open(tmp_path / "model.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "app.py", arcname="app.py")
    assert main(["create", str(tmp_path / "model.tar.gz"), "--endpoint", nowhere]) == 1
    err = capsys.readouterr().err
    assert "model.tar.gz is not a service description (a .json or .yaml file); name it" in err
    assert f'"model_path": "{tmp_path / "model.tar.gz"}"' in err
    assert main(["test", str(tmp_path / "app.py")]) == 1
    err = capsys.readouterr().err
    assert "app.py is not a service description (a .json or .yaml file)" in err
    assert f'"processor_path": "{tmp_path}", "processor_entry": "app.py"' in err
    # a .json file keeps its line and column
    (tmp_path / "bad.json").write_text('{"name": "x",\n "metadata": }')
    assert main(["create", str(tmp_path / "bad.json"), "--endpoint", nowhere]) == 1
    assert "invalid JSON in" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["bench", "mnist", "-n", "100"], "`%eas bench` in a notebook, or easlab.bench("),
        (["monitor", "mnist"], "`%eas monitor` in a notebook, or easlab.monitor("),
        (["debug", "mnist"], "`%eas debug` in a notebook, or easlab.debug("),
        (["predict", "mnist"], "`%%eas predict` in a notebook, or PredictClient"),
    ],
)
def test_a_notebook_only_verb_on_the_command_line_says_where_it_is(argv, words, capsys):
    # `easlab bench mnist` (the README's %eas bench) said only "'bench' is not a
    # command; `easlab -h` lists them", as if easlab had no bench at all
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"easlab {argv[0]}: a notebook command") and words in err, err
    assert err.count("\n") == 1, err

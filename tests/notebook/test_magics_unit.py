"""Magic plumbing that needs no kernel: templating, argument parsing, help, errors, config."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell

from easlab.notebook.magics import _PARSERS, EasMagic, substitute

from .conftest import failing


def test_substitute_dollar_and_braces_leaves_json_alone():
    ns = {"model_dir": "/m", "n": 2}
    text = (
        '{"model_path": "$model_dir", "metadata": {"instance": {n}}, "x": "${n}", "y": "{other}"}'
    )
    assert substitute(text, ns) == (
        '{"model_path": "/m", "metadata": {"instance": 2}, "x": "2", "y": "{other}"}'
    )
    assert substitute("a: {{n}}", ns) == "a: {{n}}"  # doubled braces are not a placeholder


def test_substitute_unknown_dollar_is_an_error():
    with pytest.raises(ValueError, match=r"\$nope"):
        substitute("path: $nope", {})


SUBSTITUTED = {"cfg": {"threshold": 0.5, "labels": ["a", "b"]}, "flag": True, "n": 2, "x": 0.25}


def test_substitute_puts_values_in_as_json_in_a_json_cell():
    import json

    cell = (
        '{"model_config": $cfg, "generate_token": $flag, "metadata": {"instance": $n},'
        ' "rate": ${x}, "path": "$dir/v1", "note": "price in $$USD", "none": $nothing}'
    )
    text = substitute(cell, {**SUBSTITUTED, "dir": "/m", "nothing": None})
    assert json.loads(text) == {
        "model_config": {"threshold": 0.5, "labels": ["a", "b"]},
        "generate_token": True,
        "metadata": {"instance": 2},
        "rate": 0.25,
        "path": "/m/v1",  # a string goes in as written
        "note": "price in $USD",
        "none": None,
    }


def test_substitute_puts_values_in_as_yaml_flow_in_a_yaml_cell():
    import yaml

    cell = (
        "model_config: $cfg\ngenerate_token: $flag\nmetadata:\n  instance: {n}\n"
        "rate: $x\nmodel_path: $dir/model.onnx\nnote: price in $$USD\n"
    )
    text = substitute(cell, {**SUBSTITUTED, "dir": "/m"})
    assert yaml.safe_load(text) == {
        "model_config": {"threshold": 0.5, "labels": ["a", "b"]},
        "generate_token": True,
        "metadata": {"instance": 2},
        "rate": 0.25,
        "model_path": "/m/model.onnx",
        "note": "price in $USD",
    }


def test_substitute_inside_a_string_puts_the_text_in():
    assert substitute('{"name": "run_$n", "on": "$flag"}', SUBSTITUTED) == (
        '{"name": "run_2", "on": "True"}'
    )


def test_substitute_paths_and_numpy_values():
    from pathlib import Path

    import numpy as np

    ns = {"p": Path("/models/a"), "k": np.int64(3), "w": np.array([0.5, 1.5])}
    assert substitute("model_path: $p\nk: $k\nw: $w", ns) == (
        "model_path: /models/a\nk: 3\nw: [0.5, 1.5]"
    )


def test_substitute_dollar_dollar_is_a_literal_dollar():
    assert substitute("a: $$USD\nb: $${n}\nc: $$$n", {"n": 2}) == "a: $USD\nb: ${n}\nc: $2"
    with pytest.raises(ValueError, match=r"write \$\$USD for a literal \$USD"):
        substitute("price: $USD", {})


def test_substitute_a_value_json_cannot_hold_names_the_variable():
    with pytest.raises(ValueError, match=r"^\$tags in the cell: a set cannot be written"):
        substitute("tags: $tags", {"tags": {"a"}})
    with pytest.raises(ValueError, match=r"^\$ratio in the cell: a float"):
        substitute("ratio: $ratio", {"ratio": float("nan")})


def test_a_start_failure_is_one_line_ending_with_the_error():
    from easlab.notebook.magics import _failure_line

    message = (
        "initialize() failed with RuntimeError:\nTraceback (most recent call last):\n"
        '  File "app.py", line 6, in initialize\n    raise RuntimeError("no model")\n'
        "RuntimeError: no model here\n"
    )
    assert _failure_line(message) == "initialize() failed with RuntimeError: no model here"
    assert _failure_line("model file missing") == "model file missing"
    assert _failure_line(None) == "no message; see its log"


def test_parsers_document_themselves():
    create = _PARSERS["create"]
    args = create.parse_argstring("svc --dry-run --target local -r")
    assert (args.var, args.dry_run, args.target, args.blue_green) == ("svc", True, "local", True)
    modify = _PARSERS["modify"].parse_argstring("m -Dmetadata.instance=2 -Dmetadata.cpu=3")
    assert modify.overrides == ["metadata.instance=2", "metadata.cpu=3"]
    bench = _PARSERS["bench"].parse_argstring("m --body x -n 200 -c 4 --sweep 1,2")
    assert (bench.n, bench.concurrency, bench.sweep) == (200, 4, "1,2")
    assert "--dry-run" in create.format_help()


@pytest.fixture()
def shell():
    ip = InteractiveShell.instance()
    # the shell is one per process: leave easlab loaded for the session's fixture if it was
    was_loaded = "easlab" in ip.extension_manager.loaded
    ip.run_line_magic("load_ext", "easlab")
    yield ip
    if not was_loaded:
        ip.run_line_magic("unload_ext", "easlab")


def test_help_and_unknown_subcommand(shell, capsys):
    shell.run_line_magic("eas", "create --help")
    assert "%%eas create" in capsys.readouterr().out
    shell.run_line_magic("eas", "")
    out = capsys.readouterr().out
    assert "%eas bench" in out and "%%eas predict" in out
    assert "easlab error: unknown subcommand 'frobnicate'" in failing(
        shell, capsys, "%eas frobnicate"
    )


def test_config_reaches_the_magic(shell):
    shell.run_line_magic("config", "EasMagic.target = 'http://127.0.0.1:1'")
    shell.run_line_magic("config", "EasMagic.show_token = True")
    try:
        magic = [c for c in shell.configurables if isinstance(c, EasMagic)][0]
        assert magic.target == "http://127.0.0.1:1" and magic.show_token is True
        assert shell.run_line_magic("config", "EasMagic.target") == "http://127.0.0.1:1"
    finally:  # one shell per process: a later test's summary must mask its token
        shell.run_line_magic("config", "EasMagic.show_token = False")


def test_bad_field_prints_one_line_without_deploying(shell, capsys):
    cell = '{"name": "x", "processor": "pmml", "model_path": "m.pmml", "metadata": {}}'
    line = failing(shell, capsys, "%%eas create --dry-run\n" + cell)
    assert line.startswith("easlab error: metadata.instance: required")


def test_kernel_not_running_is_one_line(shell, capsys):
    before = shell.config.EasMagic.get("target")
    shell.run_line_magic("config", "EasMagic.target = 'http://127.0.0.1:9'")
    try:
        line = failing(shell, capsys, "%eas ls")
    finally:  # one shell per process: later tests talk to their own kernel
        shell.run_line_magic("config", f"EasMagic.target = {before or ''!r}")
    assert line.startswith("easlab error: no easlab kernel answers at http://127.0.0.1:9")


def test_a_bare_word_target_is_answered_in_the_magics_terms(shell, capsys):
    # `%eas target notaurl` then `%eas ls` said "connect()'s first argument is the
    # kernel's endpoint ... write `easlab.connect().service('notaurl')`"
    before = shell.config.EasMagic.get("target")
    shell.run_line_magic("config", "EasMagic.target = 'notaurl'")
    try:
        line = failing(shell, capsys, "%eas ls")
    finally:  # one shell per process: later tests talk to their own kernel
        shell.run_line_magic("config", f"EasMagic.target = {before or ''!r}")
    assert "%eas target takes a kernel's endpoint, not a service's name" in line, line
    assert "`%eas target local` to use the running kernel" in line
    assert "`%eas desc notaurl`" in line and "connect()" not in line
    line = failing(shell, capsys, "%eas ls --target notaurl")
    assert "--target takes a kernel's endpoint" in line and "--target local" in line, line


def test_load_ext_imports_nothing_heavy():
    import json
    import subprocess
    import sys

    code = (
        "import sys, json\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\n"
        "ip.run_line_magic('load_ext', 'easlab')\n"
        "heavy = ['pandas', 'matplotlib', 'ipywidgets', 'easlab.kernel', 'requests']\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []


# Positional order of each subcommand, as `easlab <cmd> --help` (eascmd) has it.
CLI_ORDER = {
    "version": ("greeter 1", {"name": "greeter", "version": 1}),
    "version -f": ("greeter 2 -f", {"name": "greeter", "version": 2, "force": True}),
    "release": ("greeter_b -w 30", {"name": "greeter_b", "weight": 30}),
    "logs": ("greeter -n 5", {"name": "greeter", "n": 5}),
    "modify -D": (
        "greeter -Dmetadata.instance=2",
        {"name": "greeter", "overrides": ["metadata.instance=2"]},
    ),
    "modify -s": ("greeter -s v2.json", {"name": "greeter", "spec": "v2.json"}),
    "desc": ("greeter -o d", {"name": "greeter", "output": "d"}),
    "w": ("greeter", {"name": "greeter"}),
    "stop": ("greeter", {"name": "greeter"}),
    "start": ("greeter", {"name": "greeter"}),
    "delete": ("greeter", {"name": "greeter"}),
    "predict": ("greeter out --raw", {"service": "greeter", "var": "out", "raw": True}),
    "bench": ("greeter --body b -n 10", {"service": "greeter", "body": "b", "n": 10}),
    "debug": ("greeter", {"service": "greeter"}),
}


@pytest.mark.parametrize("case", sorted(CLI_ORDER))
def test_positionals_follow_the_cli_order(case):
    line, expected = CLI_ORDER[case]
    args = _PARSERS[case.split()[0]].parse_argstring(line)
    assert {k: getattr(args, k) for k in expected} == expected


def test_cli_and_magic_agree_on_positionals():
    """Each control verb's positionals have the CLI's names, in the CLI's order."""
    from easlab.cli import build_parser

    cli = build_parser()
    verbs = next(a for a in cli._actions if a.choices and "version" in a.choices).choices
    for sub in ("desc", "w", "stop", "start", "delete", "modify", "version", "release", "logs"):
        # the magic adds its destination VAR last
        ours = [a.dest for a in _PARSERS[sub]._actions if not a.option_strings and a.dest != "var"]
        theirs = [a.dest for a in verbs[sub]._actions if not a.option_strings]
        assert ours == theirs, sub


@pytest.mark.parametrize("sub", sorted(_PARSERS))
def test_every_subcommand_prints_its_help(shell, capsys, sub):
    for flag in ("--help", "-h"):
        shell.run_line_magic("eas", f"{sub} {flag}")
        out = capsys.readouterr().out
        assert out.startswith("usage: %"), out
        canonical = {"list": "ls", "showworkers": "w"}.get(sub, sub)  # aliases share a parser
        assert f"eas {canonical} " in out.splitlines()[0] and "easlab error" not in out
    shell.run_line_magic("eas", f"help {sub}")
    assert capsys.readouterr().out.startswith("usage: %")


def test_help_lists_the_subcommands_in_cli_syntax(shell, capsys):
    for line in ("--help", "help", ""):
        shell.run_line_magic("eas", line)
        out = capsys.readouterr().out
        assert (
            "%eas version [-f] [--timeout TIMEOUT] [-o VAR] [--target TARGET] [-h] NAME ID" in out
        )
        assert "%eas release -w PERCENT" in out and "%eas modify [-D KEY=VALUE] [-s JSON]" in out


def test_a_usage_mistake_is_one_line_with_the_usage(shell, capsys):
    out = failing(shell, capsys, "%eas version greeter")
    assert out.startswith("easlab error: %eas version: the following arguments are required: ID")
    assert out.endswith(
        "(usage: %eas version [-f] [--timeout TIMEOUT] [-o VAR] [--target TARGET] [-h] NAME ID [VAR])"
    )


def test_modify_wants_exactly_one_kind_of_change(shell, capsys):
    assert "got neither" in failing(shell, capsys, "%eas modify greeter")
    line = failing(shell, capsys, "%%eas modify greeter -Dmetadata.instance=2\nprocessor_path: /x")
    assert "got more than one" in line


def test_a_subcommand_typo_names_the_one_meant(shell, capsys):
    line = failing(shell, capsys, "%eas delte greeter")
    assert line.startswith("easlab error: unknown subcommand 'delte'; did you mean %eas delete?")
    assert "did you mean" not in failing(shell, capsys, "%eas frobnicate")


def test_options_before_the_subcommand_say_to_put_it_first(shell, capsys):
    # "%%eas --dry-run create" said only: unknown subcommand '--dry-run'
    line = failing(shell, capsys, "%%eas --dry-run create\n{}")
    assert line == (
        "easlab error: '--dry-run' comes before the subcommand; the subcommand goes first: "
        "%%eas create --dry-run"
    )
    line = failing(shell, capsys, "%eas -o df ls")
    assert line.endswith("the subcommand goes first: %eas ls -o df")
    assert "unknown subcommand '--frob'" in failing(shell, capsys, "%eas --frob")


def test_kernel_messages_name_magics_not_cli_commands():
    from easlab.notebook.magics import _notebook_terms

    assert _notebook_terms("ValueError: x (traceback in the service log: easlab logs m)") == (
        "ValueError: x (traceback in the service log: %eas logs m)"
    )
    assert _notebook_terms("see `easlab logs my-svc.v2`") == "see %eas logs my-svc.v2"
    assert _notebook_terms("raise it: easlab modify slow -Dmetadata.rpc.keepalive=10000") == (
        "raise it: %eas modify slow -Dmetadata.rpc.keepalive=10000"
    )
    assert _notebook_terms(
        "service 'm' already exists; delete it first, change it with `modify`, or create "
        "a blue-green sibling with `create -r`"
    ).endswith("change it with %%eas modify, or create a blue-green sibling with %%eas create -r")
    assert _notebook_terms("start one with `easlab serve`") == "start one with `easlab serve`"


def test_a_url_refused_for_its_shape_does_not_show_its_token():
    from easlab.notebook import _target

    for url in ("http://h:1/v1/models/echo?token=sekrit-token-9", "ftp://h/x?token=sekrit-token-9"):
        with pytest.raises(ValueError) as info:
            _target.resolve(url)
        assert "sekrit-token-9" not in str(info.value)


def test_bench_past_the_concurrency_cap_is_one_line_before_the_service_is_looked_up(
    shell, capsys, monkeypatch
):
    # %eas bench -c 100000 --duration 10s started 100000 threads
    from easlab.notebook.loadtest import MAX_CONCURRENCY

    def no(*args, **kwargs):
        raise AssertionError("looked the service up")

    monkeypatch.setattr(EasMagic, "_resolve", no)
    line = failing(shell, capsys, "%eas bench nosuch --body b -c 100000 --duration 10s")
    assert line == (
        "easlab error: concurrency 100000 for 10 s would start 100000 threads; a local load "
        f"test runs at most {MAX_CONCURRENCY}: with more threads than that it measures this "
        "machine's thread switching rather than the service. Use a concurrency of "
        f"{MAX_CONCURRENCY} or less (for more load, run load tests from several processes "
        "or machines)"
    )


def test_a_cell_with_a_bad_field_starts_no_kernel(shell, capsys, tmp_path, monkeypatch):
    # the magic started a background kernel for a cell it then refused (the CLI checks
    # the file first): a kernel left running by a typo, for an hour
    from easlab.client.connect import connect
    from easlab.errors import KernelNotRunning

    monkeypatch.setenv("EASLAB_HOME", str(tmp_path / "home"))
    before = shell.config.EasMagic.get("target")
    shell.run_line_magic("config", "EasMagic.target = 'local'")
    try:
        line = failing(shell, capsys, "%%eas create\nname: nb_typo\nmetadata:\n  instance: 1\n")
        assert line.startswith("easlab error: processor: required")
        with pytest.raises(KernelNotRunning):
            connect(None)
    finally:
        shell.run_line_magic("config", f"EasMagic.target = {before or ''!r}")
        try:
            connect(None).shutdown()
        except KernelNotRunning:
            pass


def test_the_progress_line_shows_the_name_and_state_as_text():
    """A name from a variable (``%eas stop {name}``) or a state from the kernel is text."""
    from easlab.notebook.magics import _Progress

    progress = _Progress(kernel=None, name="<img src=x onerror=alert(1)>")
    line = progress._line(f"⏳ {progress.name}: </span><script>alert(2)</script>")
    assert "<img" not in line._repr_html_() and "<script>" not in line._repr_html_()
    assert "&lt;img src=x onerror=alert(1)&gt;" in line._repr_html_()
    assert repr(line) == "⏳ <img src=x onerror=alert(1)>: </span><script>alert(2)</script>"


def test_predict_after_the_local_kernel_stopped_says_to_start_one(shell, capsys):
    """It said ``Code: 0, Message: ConnectionRefusedError: [Errno 111] ...``."""
    from types import SimpleNamespace

    from .echo_server import EchoServer

    with EchoServer() as server:
        shell.user_ns["svc"] = SimpleNamespace(url=server.url, name="echo", token=server.token)
        shell.run_cell_magic("eas", "predict svc out", '"hello"')
        assert shell.user_ns["out"] == "hello"
    capsys.readouterr()  # the answer shown
    line = failing(shell, capsys, '%%eas predict svc out\n"hello again"')
    assert "the easlab kernel that served 'echo' is not running" in line
    assert "refuses connections): start one with %eas kernel start" in line
    assert "out" not in shell.user_ns


def test_target_has_help_like_the_subcommands(shell, capsys):
    # %eas target works, but "%eas help target" said "no subcommand 'target'", "%eas target
    # --help" was an error (unrecognized arguments), and the %eas overview left it out
    for line in ("help target", "target --help", "target -h"):
        shell.run_line_magic("eas", line)
        out = capsys.readouterr().out
        assert out.startswith("usage: %eas target"), (line, out)
        assert "WHERE" in out and "--region REGION" in out and "'pai' (PAI-EAS)" in out
    shell.run_line_magic("eas", "")
    overview = capsys.readouterr().out
    assert "  %eas target [--region REGION]" in overview
    assert "choose where every later %eas call goes" in overview
    line = failing(shell, capsys, "%eas target local --frobnicate")
    assert "unrecognized arguments: --frobnicate (usage: %eas target " in line
    # a typo'd help topic names the one meant, as a typo'd subcommand does
    line = failing(shell, capsys, "%eas help predcit")
    assert "no subcommand 'predcit'; did you mean %eas help predict?" in line
    assert "target" in line


def test_the_overview_is_plain_text_with_the_settings(shell, capsys):
    # %eas printed the docstring as written: indented by 8 spaces, with reST ``quotes``,
    # and said nothing of the %config settings (a predict's 30 s timeout among them)
    shell.run_line_magic("eas", "")
    out = capsys.readouterr().out
    head = out.split("Subcommands")[0]
    assert "``" not in head and "%eas ls df" in head
    assert all(not line.startswith(" ") for line in head.splitlines()), head
    assert "%config EasMagic.timeout = 120" in head and "EasMagic.show_token" in head

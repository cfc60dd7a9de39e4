"""The verb table (easlab/verbs.py): each verb declared once, the CLI and the magic built from it.

Walks the table: every verb both fronts have parses the same arguments into
the same keywords and calls the same function; every verb's --help works in
both; the CLI's global options go before or after the verb.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from easlab import cli
from easlab.verbs import VERBS, Arg, Verb, percentage, wait_seconds

NOWHERE = "http://127.0.0.1:9"
SHARED = [v for v in VERBS if v.fronts == {"cli", "magic"}]


def _sample(a: Arg) -> list[str]:
    """Arguments that give ``a`` a non-default value."""
    opts = a.options
    if not a.flags[0].startswith("-"):
        if opts.get("choices"):
            return [str(opts["choices"][-1])]
        return ["3" if opts.get("type") is int else f"v_{a.dest}"]
    flag = a.flags[0]
    if opts.get("action") == "store_true":
        return [flag]
    if opts.get("action") == "append":
        return [f"{flag}metadata.instance=2"]
    if opts.get("type") in (int, float, wait_seconds, percentage):
        return [flag, "7"]
    return [flag, f"v_{a.dest}"]


def _argv(verb: Verb, front: str) -> list[str]:
    positional: list[str] = []
    options: list[str] = []
    for a in verb.args_for(front):
        if a.keyword is None and front == "magic":
            continue
        if a.dest == "spec" and verb.name == "modify":
            continue  # -s and -D exclude each other; -D is given
        (options if a.flags[0].startswith("-") else positional).extend(_sample(a))
    return positional + options


class _Called(Exception):
    """Raised by the stand-in verb function once it has recorded its keywords."""


@pytest.fixture
def recorded(monkeypatch) -> list[tuple[str, dict[str, Any]]]:
    calls: list[tuple[str, dict[str, Any]]] = []

    def resolve(self: Verb) -> Any:
        def function(**kwargs: Any) -> Any:
            calls.append((self.function, kwargs))
            raise _Called

        return function

    monkeypatch.setattr(Verb, "resolve", resolve)
    return calls


@pytest.fixture
def shell():
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "easlab")
    ip.run_line_magic("config", f"EasMagic.target = {NOWHERE!r}")
    yield ip
    ip.run_line_magic("unload_ext", "easlab")


def _shared(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if k not in ("kernel", "progress", "spec")}


@pytest.mark.parametrize("verb", SHARED, ids=lambda v: v.name)
def test_cli_and_magic_call_the_same_function_with_the_same_keywords(verb, recorded, shell):
    cli_argv = [verb.name, *_argv(verb, "cli"), "--endpoint", NOWHERE]
    with pytest.raises(_Called):
        cli.main(cli_argv)
    magic_line = " ".join([verb.name, *_argv(verb, "magic")])
    body = "name: v_name\nprocessor: pmml\nmodel_path: m.pmml\nmetadata:\n  instance: 1\n"
    with pytest.raises(_Called):
        if verb.cell == "required":
            shell.run_cell_magic("eas", magic_line, body)
        else:
            shell.run_line_magic("eas", magic_line)
    (cli_function, cli_kwargs), (magic_function, magic_kwargs) = recorded
    assert cli_function == magic_function == verb.function
    assert _shared(cli_kwargs) == _shared(magic_kwargs), verb.name
    # every non-default shared argument arrived, under the function's own keyword names
    import inspect

    accepted = inspect.signature(_real(verb)).parameters
    assert set(cli_kwargs) <= set(accepted), set(cli_kwargs) - set(accepted)
    assert set(magic_kwargs) <= set(accepted)


def _real(verb: Verb) -> Any:
    import importlib

    module, _, attr = verb.function.partition(":")
    target: Any = importlib.import_module(module)
    for part in attr.split("."):
        target = getattr(target, part)
    return target


@pytest.mark.parametrize("verb", VERBS, ids=lambda v: v.name)
def test_every_verb_function_exists_and_has_help_in_each_front(verb, shell, capsys):
    assert callable(_real(verb))
    if "cli" in verb.fronts:
        with pytest.raises(SystemExit) as info:
            cli.main([verb.name, "--help"])
        assert info.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: easlab {verb.name}") and verb.help.split(",")[0] in out
    if "magic" in verb.fronts:
        shell.run_line_magic("eas", f"{verb.name} --help")
        out = capsys.readouterr().out
        assert out.startswith("usage: %") and f"eas {verb.name}" in out.splitlines()[0]


def test_global_options_go_before_or_after_the_verb(capsys):
    for argv in (["--json", "--endpoint", NOWHERE, "ls"], ["ls", "--json", "--endpoint", NOWHERE]):
        assert cli.main(argv) == 1
        assert f"no easlab kernel answers at {NOWHERE}" in capsys.readouterr().err


def test_version_flag(capsys):
    import easlab

    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"easlab {easlab.__version__}"


@pytest.mark.parametrize("verb", ["config"])
def test_eascmd_verbs_easlab_does_not_have_say_what_to_use(verb, capsys):
    assert cli.main([verb, "whatever"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"easlab {verb}: not an easlab command") and "eascmd" in err


def test_dry_run_is_the_same_in_python_cli_and_magic(tmp_path, shell, capsys):
    import easlab

    spec = {
        "name": "dry_one",
        "processor": "pmml",
        "model_path": str(tmp_path / "m.pmml"),  # a dry run checks that it is there
        "metadata": {"instance": 1},
    }
    (tmp_path / "m.pmml").write_text("<PMML/>")
    (tmp_path / "s.json").write_text(json.dumps(spec))
    diff = easlab.create(spec, dry_run=True, kernel=None)
    assert isinstance(diff, easlab.SpecDiff) and diff.verb == "would create"
    assert cli.main(["create", str(tmp_path / "s.json"), "--dry-run", "--endpoint", NOWHERE]) == 0
    assert capsys.readouterr().out.splitlines()[0] == diff.headline
    shell.run_cell_magic("eas", "create --dry-run d", json.dumps(spec))
    assert shell.user_ns["d"].changes == diff.changes

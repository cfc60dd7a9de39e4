"""Magic plumbing that needs no kernel: templating, argument parsing, help, errors, config."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell

from easlab.notebook.magics import _PARSERS, EasMagic, substitute


def test_substitute_dollar_and_braces_leaves_json_alone():
    ns = {"model_dir": "/m", "n": 2}
    text = '{"model_path": "$model_dir", "metadata": {"instance": {n}}, "x": "${n}", "y": "{other}"}'
    assert substitute(text, ns) == (
        '{"model_path": "/m", "metadata": {"instance": 2}, "x": "2", "y": "{other}"}'
    )
    assert substitute("a: {{n}}", ns) == "a: {{n}}"  # doubled braces are not a placeholder


def test_substitute_unknown_dollar_is_an_error():
    with pytest.raises(ValueError, match=r"\$nope"):
        substitute("path: $nope", {})


def test_parsers_document_themselves():
    create = _PARSERS["create"].parser
    args = create.parse_argstring("svc --dry-run --target local -r")
    assert (args.var, args.dry_run, args.target, args.blue_green) == ("svc", True, "local", True)
    modify = _PARSERS["modify"].parser.parse_argstring("m -Dmetadata.instance=2 -Dmetadata.cpu=3")
    assert modify.overrides == ["metadata.instance=2", "metadata.cpu=3"]
    bench = _PARSERS["bench"].parser.parse_argstring("m --body x -n 200 -c 4 --sweep 1,2")
    assert (bench.n, bench.concurrency, bench.sweep) == (200, 4, "1,2")
    assert "--dry-run" in create.format_help()


@pytest.fixture()
def shell():
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "easlab")
    yield ip
    ip.run_line_magic("unload_ext", "easlab")


def test_help_and_unknown_subcommand(shell, capsys):
    shell.run_line_magic("eas", "create --help")
    assert "%%eas create" in capsys.readouterr().out
    shell.run_line_magic("eas", "")
    out = capsys.readouterr().out
    assert "%eas bench" in out and "%%eas predict" in out
    shell.run_line_magic("eas", "frobnicate")
    assert "easlab error: unknown subcommand 'frobnicate'" in capsys.readouterr().out


def test_config_reaches_the_magic(shell):
    shell.run_line_magic("config", "EasMagic.target = 'http://127.0.0.1:1'")
    shell.run_line_magic("config", "EasMagic.show_token = True")
    magic = [c for c in shell.configurables if isinstance(c, EasMagic)][0]
    assert magic.target == "http://127.0.0.1:1" and magic.show_token is True
    assert shell.run_line_magic("config", "EasMagic.target") == "http://127.0.0.1:1"


def test_bad_field_prints_one_line_without_deploying(shell, capsys):
    cell = '{"name": "x", "processor": "pmml", "model_path": "m.pmml", "metadata": {}}'
    shell.run_cell_magic("eas", "create --dry-run", cell)
    out = capsys.readouterr().out.strip()
    assert out.startswith("easlab error: metadata.instance: required")
    assert len(out.splitlines()) == 1 and "Traceback" not in out


def test_kernel_not_running_is_one_line(shell, capsys):
    shell.run_line_magic("config", "EasMagic.target = 'http://127.0.0.1:9'")
    shell.run_line_magic("eas", "ls")
    out = capsys.readouterr().out.strip()
    assert out.startswith("easlab error: no easlab kernel answers at http://127.0.0.1:9")
    assert len(out.splitlines()) == 1


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
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []

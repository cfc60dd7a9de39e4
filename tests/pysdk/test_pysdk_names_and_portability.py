"""``pysdk init`` names the service validly (the kernel's rule) whatever the folder is
called, and ``pysdk pack`` says when the package's ENV cannot start on PAI-EAS."""

from __future__ import annotations

import json

import pytest

from easlab.cli import main
from easlab.pysdk.templates import app_json, service_name
from easlab.spec import NAME_MAX, check_name


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("demo", "demo"),
        ("My-Demo", "my_demo"),
        ("demo.v2", "demo_v2"),
        ("2demo", "pysdk_2demo"),
        ("_x", "pysdk__x"),
        ("---", "pysdk_demo"),
        ("Über", "pysdk__ber"),
        ("a" * 80, "a" * NAME_MAX),
    ],
)
def test_the_service_name_follows_the_kernels_rule(folder, name):
    assert service_name(folder) == name
    assert check_name(app_json(folder)["name"]) == name
    assert app_json(folder)["processor_path"] == f"../{folder}.tar.gz"  # the file keeps its name


def test_init_prints_the_name_it_chose_and_create_accepts_the_file(tmp_path, capsys):
    folder = tmp_path / "My-Demo"
    assert main(["pysdk", "init", str(folder), "--without-pip", "--python", "3.11"]) == 0
    out = capsys.readouterr().out
    assert "Service name in app.json: my_demo" in out and "lowercase letters" in out
    assert json.loads((folder / "app.json").read_text())["name"] == "my_demo"
    assert main(["pysdk", "pack", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "Created package:" in out
    # a venv's python needs this machine's base interpreter: pack says so for PAI-EAS
    assert "[WARN] for PAI-EAS: the package's ENV is a virtualenv (ENV/pyvenv.cfg" in out
    # the file pysdk wrote passes the create it recommends (a dry run: no kernel needed)
    code = main(
        ["create", str(folder / "app.json"), "--dry-run", "--endpoint", "http://127.0.0.1:9"]
    )
    assert code == 0, capsys.readouterr().err
    assert capsys.readouterr().out.startswith("my_demo: valid; would create")


def test_init_names_every_path_from_the_current_folder(tmp_path, capsys, monkeypatch):
    # "demo/ENV/bin/pip" beside "cd demo && ENV/bin/python app.py" (which left the shell in
    # demo, where "easlab pysdk pack demo" then missed); an absolute path inside the cwd
    # stayed absolute
    monkeypatch.chdir(tmp_path)
    args = ["--without-pip", "--python", "3.11"]
    assert main(["pysdk", "init", str(tmp_path / "demo"), *args]) == 0
    out = capsys.readouterr().out
    assert "[PYSDK] Created demo/ENV (Python" in out
    assert "[PYSDK] Created demo/app.py and demo/app.json" in out
    steps = [line.split("#")[0].strip() for line in out.split("Next steps:\n")[1].splitlines()]
    assert steps == [
        "demo/ENV/bin/pip install <your model's dependencies>",
        "(cd demo && ENV/bin/python app.py)",
        "curl http://127.0.0.1:8080/test -d '10 20'",
        "easlab pysdk pack demo",
        "easlab create demo/app.json",
    ]
    assert "# makes demo.tar.gz" in out
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    monkeypatch.chdir(tmp_path / "demo")
    assert main(["pysdk", "init", str(outside), *args]) == 0
    out = capsys.readouterr().out
    assert f"easlab create {outside}/app.json" in out and f"(cd {outside} && ENV/bin" in out

"""The pysdk loop as a new user walks it: ``easlab test app.json`` (or ``create``) right
after ``pysdk init``, before ``pysdk pack`` made the package app.json names, says to pack
it (was: only "no such file or directory", which read as a wrong path). Real ``pysdk
init`` ENVs (without pip); refused before any kernel starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from easlab.cli import main
from easlab.pysdk.init import init_project


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("loop") / "demo"
    init_project(folder, with_pip=False)
    return folder


@pytest.mark.parametrize("verb", [["test"], ["create", "--dry-run"]])
def test_app_json_before_pack_says_to_pack(project, verb, capsys, monkeypatch):
    monkeypatch.chdir(project.parent)
    # no kernel answers there: the dry run validates without one, test refuses before one
    # starts (an EASLAB_HOME that is a file: a kernel could not start in it; before, the
    # kernel's create said it, and `test` failed on a kernel already in the state dir)
    home = project.parent / "not-a-folder"
    home.write_text("")
    monkeypatch.setenv("EASLAB_HOME", str(home))
    assert main([*verb, "demo/app.json", "--endpoint", "http://127.0.0.1:9"]) == 1
    out, err = capsys.readouterr()
    err += out  # the dry run's plan is on stdout
    assert "processor_path" in err and "demo.tar.gz: no such file or directory" in err, err
    assert "The package is not made yet: `easlab pysdk pack " in err, err
    assert f"{project}` makes demo.tar.gz from the project folder" in err


def test_a_missing_archive_with_no_project_folder_says_only_that(tmp_path, capsys, monkeypatch):
    spec = tmp_path / "service.json"
    spec.write_text(
        '{"name": "x", "processor": "pmml", "model_path": "./model.tar.gz",'
        ' "metadata": {"instance": 1}}'
    )
    home = tmp_path / "not-a-folder"
    home.write_text("")
    monkeypatch.setenv("EASLAB_HOME", str(home))  # refused before a kernel starts
    assert main(["test", str(spec)]) == 1
    err = capsys.readouterr().err
    assert "no such file or directory" in err and "pysdk pack" not in err

"""``python -m easlab.lab.install``: the panel in an environment whose easlab is editable.

``pip install -e`` (make, Binder's postBuild) brings no data files, so JupyterLab
opened without the "EAS services" panel on Binder. The installer links the prebuilt
front end and writes the server extension's config under the prefix.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import easlab.lab.install as lab_install
from easlab.lab import HERE
from easlab.pysdk.init import site_packages


def test_install_links_the_panel_and_enables_the_server_extension(tmp_path):
    extension, config = lab_install.install(tmp_path)
    assert extension == tmp_path / "share/jupyter/labextensions/easlab-lab"
    assert extension.is_symlink() and extension.resolve() == (HERE / "labextension").resolve()
    assert (extension / "package.json").is_file()
    assert json.loads(config.read_text()) == {
        "ServerApp": {"jpserver_extensions": {"easlab.lab": True}}
    }
    # again, and over a copy a wheel installed: the link replaces it
    extension.unlink()
    (extension / "static").mkdir(parents=True)
    (extension / "package.json").write_text("{}")
    assert lab_install.install(tmp_path) == [extension, config]
    assert extension.is_symlink()


def test_where_links_cannot_be_made_the_panel_is_copied(tmp_path, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise OSError("symbolic links are not available")

    monkeypatch.setattr(Path, "symlink_to", refuse)
    extension, _ = lab_install.install(tmp_path)
    assert not extension.is_symlink()
    assert (extension / "package.json").read_bytes() == (
        HERE / "labextension" / "package.json"
    ).read_bytes()


def test_an_unbuilt_panel_says_how_to_build_it(tmp_path, monkeypatch):
    monkeypatch.setattr(lab_install, "HERE", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="make labextension"):
        lab_install.install(tmp_path / "prefix")
    assert not (tmp_path / "prefix").exists()


def test_the_module_runs_as_a_command_into_sys_prefix(tmp_path):
    # a venv of its own, so the test venv's Jupyter is not touched
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = site_packages(venv)
    root = HERE.parent.parent
    (site / "easlab-src.pth").write_text(str(root) + "\n")
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "easlab.lab.install"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"[OK] {venv}/share/jupyter/labextensions/easlab-lab" in proc.stdout
    assert (venv / "etc/jupyter/jupyter_server_config.d/easlab.json").is_file()


@pytest.mark.parametrize("blocked", ["etc", "share"])
def test_a_prefix_that_cannot_be_written_installs_nothing_and_says_why(tmp_path, blocked):
    # a file where a folder must go stands for any unwritable place (the tests run as root,
    # for whom permissions do not block); before, the front end was linked and then the
    # config failed with a bare "[Errno 20] Not a directory": a panel without its server side
    (tmp_path / blocked).write_text("")
    with pytest.raises(OSError) as err:
        lab_install.install(tmp_path)
    message = str(err.value)
    assert f"the panel is not installed into {tmp_path}" in message
    assert f"owner of {tmp_path}" in message and "python -m venv" in message
    assert not (tmp_path / "share/jupyter/labextensions/easlab-lab").exists()
    assert not (tmp_path / "etc/jupyter/jupyter_server_config.d/easlab.json").exists()

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


def _venv_with_easlab(tmp_path: Path) -> Path:
    """A venv of its own whose Python imports this checkout's easlab."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site_packages(venv) / "easlab-src.pth").write_text(str(HERE.parent.parent) + "\n")
    return venv


def test_the_command_says_its_options_and_uninstalls_what_it_installed(tmp_path):
    # before, it had no options: `--help` (or `--uninstall`) installed the panel, and
    # nothing took it out again
    venv = _venv_with_easlab(tmp_path)
    python = str(venv / "bin" / "python")
    extension = venv / "share/jupyter/labextensions/easlab-lab"
    config = venv / "etc/jupyter/jupyter_server_config.d/easlab.json"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [python, "-m", "easlab.lab.install", *args], capture_output=True, text=True, timeout=60
        )

    shown = run("--help")
    assert shown.returncode == 0, shown.stderr
    assert "--uninstall" in shown.stdout and "--prefix" in shown.stdout
    assert not extension.exists() and not config.exists()  # --help installs nothing
    assert run().returncode == 0 and extension.is_symlink() and config.is_file()
    removed = run("--uninstall")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.splitlines() == [f"[OK] removed {extension}", f"[OK] removed {config}"]
    assert not extension.exists() and not extension.is_symlink() and not config.exists()
    assert (HERE / "labextension" / "package.json").is_file()  # the link went, not the panel
    again = run("--uninstall")  # nothing left: said, not an error
    assert again.returncode == 0 and f"not installed in {venv}" in again.stdout
    # --prefix: another environment's
    other = tmp_path / "other"
    assert run("--prefix", str(other)).returncode == 0
    assert (other / "share/jupyter/labextensions/easlab-lab").is_symlink()
    assert run("--uninstall", "--prefix", str(other)).returncode == 0
    assert not (other / "share/jupyter/labextensions/easlab-lab").exists()
    assert not (other / "etc/jupyter/jupyter_server_config.d/easlab.json").exists()


def test_uninstall_removes_a_copy_and_keeps_the_config_when_the_front_end_stays(
    tmp_path, monkeypatch
):
    def refuse(self, *args, **kwargs):
        raise OSError("symbolic links are not available")

    monkeypatch.setattr(Path, "symlink_to", refuse)
    extension, config = lab_install.install(tmp_path)
    assert lab_install.uninstall(tmp_path) == [extension, config]
    assert not extension.exists() and not config.exists()
    assert lab_install.uninstall(tmp_path) == []
    # a front end that cannot be removed keeps its server side (a panel without it
    # only shows an error), and the error says where and what to do
    monkeypatch.undo()
    extension, config = lab_install.install(tmp_path)

    def cannot(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "unlink", cannot)
    with pytest.raises(OSError, match=rf"the panel is not uninstalled from {tmp_path}: "):
        lab_install.uninstall(tmp_path)
    monkeypatch.undo()
    assert extension.is_symlink() and config.is_file()

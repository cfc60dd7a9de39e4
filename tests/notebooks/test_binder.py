"""The Binder files are complete: a fresh virtualenv built from them runs the quickstart.

repo2docker installs ``binder/requirements.txt``, then runs ``binder/postBuild``
from the repository root; this test does the same in ``.venv-binder/`` (with
pip's cache allowed) and executes the quickstart there. The venv is rebuilt
only when the Binder files, pyproject.toml or the Python version change.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from .nbrun import ROOT, leftover_services

BINDER = ROOT / "binder"
BINDER_VENV = ROOT / ".venv-binder"
STAMP = BINDER_VENV / ".binder-hash"
#: what decides the venv's content
INPUTS = [
    BINDER / "requirements.txt",
    BINDER / "postBuild",
    BINDER / "apt.txt",
    ROOT / "pyproject.toml",
]


def _key() -> str:
    h = hashlib.sha256(sys.version.encode())
    for path in INPUTS:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _apt_packages() -> list[str]:
    lines = (BINDER / "apt.txt").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def _build_env() -> dict[str, str]:
    """The shell repo2docker gives postBuild: the environment's python and pip first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{BINDER_VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(BINDER_VENV)
    for var in ("PYTHONPATH", "PYTHONHOME", "PIP_REQUIRE_VIRTUALENV"):
        env.pop(var, None)
    return env


def _run(cmd: list[str], what: str, timeout: float) -> None:
    proc = subprocess.run(
        cmd, cwd=ROOT, env=_build_env(), capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"{what} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )


def binder_python() -> Path:
    """The python of a venv built from the Binder files, building it if they changed."""
    py = BINDER_VENV / "bin" / "python"
    key = _key()
    if py.exists() and STAMP.exists() and STAMP.read_text() == key:
        return py
    shutil.rmtree(BINDER_VENV, ignore_errors=True)
    venv.EnvBuilder(with_pip=True).create(BINDER_VENV)
    _run(
        [str(py), "-m", "pip", "install", "-q", "-r", str(BINDER / "requirements.txt")],
        "pip install -r binder/requirements.txt",
        timeout=1200,
    )
    _run(["bash", str(BINDER / "postBuild")], "binder/postBuild", timeout=600)
    STAMP.write_text(key)
    return py


def test_binder_files_are_what_repo2docker_reads():
    assert (BINDER / "requirements.txt").is_file()
    assert os.access(BINDER / "postBuild", os.X_OK), "binder/postBuild must be executable"
    assert "gcc" in _apt_packages()  # notebook 3 compiles a C processor
    missing = [p for p in ("gcc",) if shutil.which(p) is None]
    assert missing == [], f"{missing} not installed here: apt-get install -y {' '.join(missing)}"


# a cold build downloads JupyterLab and onnxruntime (a minute or more); cached runs take seconds
@pytest.mark.timeout(1800)
def test_quickstart_runs_in_a_fresh_binder_environment(easlab_home: Path):
    py = binder_python()
    # the environment holds what the Binder files promise and nothing from the test venv
    probe = subprocess.run(
        [
            str(py),
            "-c",
            "import easlab, onnxruntime, jupyterlab, ipywidgets, matplotlib; "
            "print(easlab.__file__)",
        ],
        cwd="/",
        env=_build_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip().startswith(str(ROOT / "easlab")), (
        "postBuild must install this checkout"
    )

    # the "EAS services" panel and its server extension (an editable install brings neither)
    for what, words in (("labextension", "easlab-lab"), ("server extension", "easlab.lab")):
        listed = subprocess.run(
            [str(py), "-m", "jupyter", *what.split(), "list"],
            cwd="/",
            env={**_build_env(), "NO_COLOR": "1"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        lines = [ln for ln in (listed.stdout + listed.stderr).splitlines() if words in ln]
        assert any("enabled" in ln for ln in lines), f"jupyter {what} list:\n{listed.stderr}"
        assert not any("disabled" in ln or "X" in ln.split() for ln in lines), lines

    notebook = ROOT / "notebooks" / "01-quickstart.ipynb"
    runner = Path(__file__).with_name("nbrun.py")
    proc = subprocess.run(
        [str(py), str(runner), str(notebook), str(easlab_home)],
        cwd=ROOT,
        env=_build_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, (
        f"quickstart failed in the Binder venv:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    )
    assert "executed 01-quickstart.ipynb" in proc.stdout
    # the quickstart deletes its service; the serving kernel stays for the next notebook
    assert list(leftover_services(easlab_home).values()) == [[]]

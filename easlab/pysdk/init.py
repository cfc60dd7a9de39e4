"""``pysdk init``: a project folder with ``ENV`` (venv + allspark), ``app.py``, ``app.json``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from easlab.pysdk.templates import APP_PY, app_json

__all__ = [
    "Project",
    "init_project",
    "resolve_python",
    "install_allspark",
    "env_python",
    "site_packages",
]


@dataclass(frozen=True)
class Project:
    env: Path
    app: Path
    app_json: Path
    version: str
    #: the service name written to app.json (the folder's name made valid); "" if kept
    name: str = ""
    #: the files of the folder that ``--force`` kept as they were (app.py, app.json)
    kept: tuple[str, ...] = ()


def resolve_python(python: str | None) -> str:
    """The interpreter to build ENV from: a version (``3.11``), a command or a path."""
    if not python:
        return sys.executable
    if python[0].isdigit():
        found = shutil.which(f"python{python}")
        if found is None:
            raise ValueError(
                f"--python {python}: no python{python} on PATH; install it (pyenv, uv python "
                "install, apt) or pass the interpreter's path"
            )
        return found
    found = shutil.which(python)
    if found is None:
        raise ValueError(f"--python {python}: no such interpreter")
    return found


def env_python(env: Path) -> Path:
    return env / "bin" / "python"


def site_packages(env: Path) -> Path:
    """The folder where ``env``'s own Python imports installed packages from."""
    out = subprocess.run(
        [
            str(env_python(env)),
            "-I",
            "-c",
            "import sysconfig; print(sysconfig.get_path('purelib'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return Path(out)


def install_allspark(env: Path) -> None:
    """Put the ``allspark`` SDK into ``env`` (easlab's standalone allspark, stdlib only)."""
    import easlab
    from easlab import allspark as sdk

    site = site_packages(env)
    package = site / "allspark"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(Path(sdk.__file__).read_text())
    info = site / f"allspark-{easlab.__version__}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: allspark\nVersion: {easlab.__version__}\n"
        "Summary: PAI-EAS python processor SDK (easlab's standalone allspark)\n"
    )
    (info / "INSTALLER").write_text("easlab\n")
    (info / "RECORD").write_text(
        f"allspark/__init__.py,,\n{info.name}/METADATA,,\n{info.name}/INSTALLER,,\n"
        f"{info.name}/RECORD,,\n"
    )


def _check_interpreter(interpreter: str, asked: str | None) -> None:
    """Refuse, before anything is written, an interpreter that does not run (a pyenv
    shim of a version not selected) or is older than the kernel's worker needs."""
    from easlab.kernel.packaged_env import MIN_PYTHON

    flag = f"--python {asked}" if asked else interpreter
    try:
        done = subprocess.run(
            [interpreter, "-I", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ValueError(f"{flag}: {interpreter} does not run: {exc}") from None
    version = done.stdout.strip()
    if done.returncode != 0 or not version:
        why = (done.stderr.strip() or "no output").splitlines()[0]
        raise ValueError(
            f"{flag}: {interpreter} does not run ({why}); install that Python (pyenv "
            "install, uv python install, apt) or pass the path of one that runs"
        )
    if tuple(int(p) for p in version.split(".")[:2]) < MIN_PYTHON:
        raise ValueError(
            f"{flag}: {interpreter} is Python {version}; the local kernel runs a package's "
            f"ENV with its own Python, which easlab's worker needs at "
            f"{'.'.join(map(str, MIN_PYTHON))} or newer: pass --python 3.11 (or 3.10+)"
        )


def _env_version(env: Path) -> str:
    done = subprocess.run(
        [
            str(env_python(env)),
            "-I",
            "-c",
            "import sys, allspark; print('%d.%d.%d' % sys.version_info[:3])",
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{env_python(env)} does not work: {done.stderr.strip()}")
    return done.stdout.strip()


def init_project(
    folder: Path, python: str | None = None, force: bool = False, with_pip: bool = True
) -> Project:
    """Create ``folder/ENV``, ``folder/app.py`` and ``folder/app.json`` (the manual's layout).

    ENV is made with ``python -m venv --copies`` (no Conda needed; copies, not links,
    so the packed ENV holds its interpreter rather than a link to this machine's). It
    still needs its base Python (``home`` in ENV/pyvenv.cfg) at the same path: the local
    kernel runs it, PAI-EAS only where its image has that Python (``pysdk pack`` and the
    cloud dry run say so). With ``force``, an existing ENV (with the packages installed
    in it), app.py and app.json are kept; allspark is added to an ENV that lacks it.
    """
    if folder.exists() and any(folder.iterdir()) and not force:
        raise ValueError(
            f"{folder} is not empty; choose a new folder, or pass --force to add ENV "
            "(an app.py and app.json there are kept)"
        )
    env = folder / "ENV"
    kept = []
    if env.is_dir():
        # --force on a project that has its ENV (pack's advice, or init run twice): the
        # packages installed in it stay; `venv --clear` would delete them
        _keep_env(env, python)
        kept.append(env.name)
    else:
        _make_env(folder, env, python, with_pip)
    if not _imports_allspark(env):
        install_allspark(env)
    version = _env_version(env)
    app = folder / "app.py"
    # --force adds ENV to a folder with the code (what `pysdk pack` asks for): the
    # user's app.py and app.json stay, never replaced by the templates
    if app.exists():
        kept.append(app.name)
    else:
        app.write_text(APP_PY)
    spec = folder / "app.json"
    name = ""
    if spec.exists():
        kept.append(spec.name)
    else:
        written = app_json(folder.resolve().name)
        spec.write_text(json.dumps(written, indent=2) + "\n")
        name = str(written["name"])
    return Project(env, app, spec, version, name, tuple(kept))


def _keep_env(env: Path, python: str | None) -> None:
    """Check that an existing ENV can be kept: its Python runs, and is the one asked for."""
    done = (
        subprocess.run(
            [
                str(env_python(env)),
                "-I",
                "-c",
                "import sys; print('%d.%d.%d' % sys.version_info[:3])",
            ],
            capture_output=True,
            text=True,
        )
        if env_python(env).exists()
        else None
    )
    if done is None or done.returncode != 0 or not done.stdout.strip():
        why = (
            "no bin/python"
            if done is None
            else (done.stderr.strip() or "no output").splitlines()[-1]
        )
        raise ValueError(
            f"{env} exists but its Python does not run ({why}): remove it (`rm -rf {env}`) "
            "and run init again to make a new one (your app.py and app.json are kept)"
        )
    version = done.stdout.strip()
    if python and python[0].isdigit() and not f"{version}.".startswith(f"{python}."):
        raise ValueError(
            f"{env} exists with Python {version}, not {python}: init keeps it and the "
            f"packages installed in it; to make it with Python {python}, remove it first "
            f"(`rm -rf {env}`) and install those packages again"
        )


def _make_env(folder: Path, env: Path, python: str | None, with_pip: bool) -> None:
    interpreter = resolve_python(python)
    _check_interpreter(interpreter, python)
    made_folder = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    command = [interpreter, "-m", "venv", "--copies", "--clear"]
    if not with_pip:
        command.append("--without-pip")
    done = subprocess.run([*command, str(env)], capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(env, ignore_errors=True)
        if made_folder:
            shutil.rmtree(folder, ignore_errors=True)
        why = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise ValueError(
            f"creating {env} with `{interpreter} -m venv` failed: {why[-1] if why else '?'}"
        )


def _imports_allspark(env: Path) -> bool:
    """Whether ENV has an allspark already (easlab's, or the SDK wheel the manual installs)."""
    done = subprocess.run(
        [str(env_python(env)), "-I", "-c", "import allspark"], capture_output=True, text=True
    )
    return done.returncode == 0

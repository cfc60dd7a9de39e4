"""Python processors that bring their own environment: a package's ``ENV/bin/python``.

On EAS a python processor whose package (``processor_path``) holds ``ENV/`` runs
with that environment's Python (the manual's ``pysdk init`` / ``pysdk pack``
loop), so its packages never meet anyone else's. The kernel does the same: the
instance process is ``ENV/bin/python -m easlab.kernel.worker``.

That interpreter cannot see easlab's own virtualenv, so the worker is given a
folder holding only a link to the ``easlab`` package (``worker_path``) as its
``PYTHONPATH``. The worker's import chain (frames, worker, processors/python,
allspark) is standard library only, so none of easlab's dependencies is needed
there and none of them leaks into the processor: ``import allspark`` and every
other import of ``app.py`` resolve in the ENV.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from easlab.errors import SpecError

__all__ = ["ENV_DIR", "MIN_PYTHON", "check_python", "instance_env", "package_python", "worker_path"]

#: the folder the manual requires at a package's root
ENV_DIR = "ENV"
#: the oldest Python the worker runs on (pyproject's requires-python)
MIN_PYTHON = (3, 10)
_PROBE = "import sys; print('%d.%d.%d' % sys.version_info[:3]); sys.stdout.flush(); import allspark"


def package_python(processor_dir: Path | None) -> Path | None:
    """``processor_dir/ENV/bin/python`` when the package brings an environment, else None."""
    if processor_dir is None:
        return None
    env = processor_dir / ENV_DIR
    for name in ("bin/python", "bin/python3", "Scripts/python.exe"):
        if (env / name).exists() or (env / name).is_symlink():
            return env / name
    return None


def check_python(python: Path, timeout: float = 60.0) -> str:
    """Run ``python`` once: its version, or SpecError(processor_path) saying why it cannot
    run an instance (not executable, another architecture, too old, no allspark)."""
    where = f"the package's {ENV_DIR} ({python})"
    try:
        done = subprocess.run(
            [str(python), "-I", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_probe_env(),
        )
    except OSError as exc:
        hint = (
            " (an ENV built for another CPU architecture or system?)"
            if getattr(exc, "errno", None) == 8
            else ""
        )
        raise SpecError("processor_path", f"cannot run {where}: {exc}{hint}") from None
    except subprocess.TimeoutExpired:
        raise SpecError("processor_path", f"{where} did not answer within {timeout:g} s") from None
    lines = done.stdout.strip().splitlines()
    version = lines[0] if lines else ""
    try:
        numbers = tuple(int(p) for p in version.split("."))
    except ValueError:
        numbers = ()
    if not numbers:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SpecError("processor_path", f"cannot run {where}: {tail}")
    if numbers[:2] < MIN_PYTHON:
        raise SpecError(
            "processor_path",
            f"{where} is Python {version}; easlab's worker needs Python "
            f"{'.'.join(map(str, MIN_PYTHON))} or newer. Recreate ENV with "
            "`easlab pysdk init DIR --python 3.11`",
        )
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SpecError(
            "processor_path",
            f"{where} cannot import allspark ({tail}); install the SDK into it "
            "(`easlab pysdk init` does) or remove ENV to run with the kernel's Python",
        )
    return version


def _probe_env() -> dict[str, str]:
    env = dict(os.environ)
    for key in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"):
        env.pop(key, None)
    return env


def worker_path(state_dir: Path) -> Path:
    """A folder holding only a link to the running ``easlab`` package (for PYTHONPATH)."""
    import easlab

    source = Path(easlab.__file__).resolve().parent
    folder = state_dir / "worker-path" / f"py{sys.version_info[0]}{sys.version_info[1]}"
    link = folder / "easlab"
    if link.is_symlink() and Path(os.readlink(link)) == source:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".easlab-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(source, target_is_directory=True)
    os.replace(tmp, link)  # atomic: a worker starting meanwhile sees the old or the new link
    return folder


def instance_env(env: dict[str, str], python: Path, state_dir: Path) -> dict[str, str]:
    """``env`` for an instance running under the package's ``python``."""
    for key in ("PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(key, None)
    # only easlab's worker: the kernel's own PYTHONPATH (its site-packages) stays out
    env["PYTHONPATH"] = str(worker_path(state_dir))
    env["VIRTUAL_ENV"] = str(python.parent.parent)
    env["PATH"] = str(python.parent) + os.pathsep + env.get("PATH", "")
    return env

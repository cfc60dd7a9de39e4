"""Put the "EAS services" panel into this environment's Jupyter: ``python -m easlab.lab.install``.

A wheel of easlab brings the panel's front end and the config that enables its
server extension as data files (pyproject's ``[tool.setuptools.data-files]``); an
editable install (``pip install -e``, as ``make`` and Binder's postBuild install
easlab) brings neither, and JupyterLab then opens without the panel. This puts
them under ``sys.prefix``: a link to the prebuilt ``labextension/`` (so a
``make labextension`` shows at the next page load) and the
``jupyter_server_config.d`` entry.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from easlab.lab import HERE

__all__ = ["install", "main"]


def install(prefix: str | Path | None = None) -> list[Path]:
    """Install into ``prefix`` (default ``sys.prefix``); the two paths written."""
    root = Path(prefix) if prefix is not None else Path(sys.prefix)
    built = HERE / "labextension"
    if not (built / "package.json").is_file():
        raise FileNotFoundError(
            f"the panel is not built: {built} has no package.json; run `make labextension` "
            "(Node.js 20 and npm) in the easlab checkout"
        )
    extension = root / "share" / "jupyter" / "labextensions" / "easlab-lab"
    config = root / "etc" / "jupyter" / "jupyter_server_config.d" / "easlab.json"
    # the server extension's config first, and taken back if the front end cannot follow:
    # a front end without its server extension is a panel that only shows an error
    had_config = config.exists()
    step = config.parent
    try:
        config.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(HERE / "jupyter-config" / "easlab.json", config)
        step = extension
        _link(built, extension)
    except OSError as exc:
        if step == extension and not had_config:
            config.unlink(missing_ok=True)
        raise OSError(
            f"the panel is not installed into {root}: {step} could not be written "
            f"({exc.strerror or exc}); run this as the owner of {root}, or in an "
            "environment of your own (python -m venv)",
        ) from exc
    return [extension, config]


def _link(built: Path, extension: Path) -> None:
    """``extension`` becomes a link to ``built`` (a copy where links cannot be made)."""
    extension.parent.mkdir(parents=True, exist_ok=True)
    if extension.is_symlink() or extension.is_file():
        extension.unlink()
    elif extension.is_dir():  # a copy a wheel installed: the link replaces it
        shutil.rmtree(extension)
    try:
        extension.symlink_to(built.resolve(), target_is_directory=True)
    except OSError:  # no symlinks here (Windows without developer mode): a copy
        shutil.copytree(built, extension)


def main() -> int:
    try:
        written = install()
    except OSError as exc:  # FileNotFoundError (not built) included
        print(f"[FAILED] {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"[OK] {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

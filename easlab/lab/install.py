"""Put the "EAS services" panel into this environment's Jupyter: ``python -m easlab.lab.install``.

A wheel of easlab brings the panel's front end and the config that enables its
server extension as data files (pyproject's ``[tool.setuptools.data-files]``); an
editable install (``pip install -e``, as ``make`` and Binder's postBuild install
easlab) brings neither, and JupyterLab then opens without the panel. This puts
them under ``sys.prefix``: a link to the prebuilt ``labextension/`` (so a
``make labextension`` shows at the next page load) and the
``jupyter_server_config.d`` entry. ``--uninstall`` takes both out again;
``--prefix`` names another environment than this Python's.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from easlab.lab import HERE

__all__ = ["install", "main", "uninstall"]


def install(prefix: str | Path | None = None) -> list[Path]:
    """Install into ``prefix`` (default ``sys.prefix``); the two paths written."""
    root = Path(prefix) if prefix is not None else Path(sys.prefix)
    built = HERE / "labextension"
    if not (built / "package.json").is_file():
        raise FileNotFoundError(
            f"the panel is not built: {built} has no package.json; run `make labextension` "
            "(Node.js 20 and npm) in the easlab checkout"
        )
    extension, config = _paths(root)
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


def _paths(root: Path) -> tuple[Path, Path]:
    """The front end's place and the server extension's config under ``root``."""
    return (
        root / "share" / "jupyter" / "labextensions" / "easlab-lab",
        root / "etc" / "jupyter" / "jupyter_server_config.d" / "easlab.json",
    )


def uninstall(prefix: str | Path | None = None) -> list[Path]:
    """Take out what ``install`` put into ``prefix`` (default ``sys.prefix``): the front
    end (the link, or the copy made where links cannot be) and the server extension's
    config; the paths removed ([] when neither was there). The front end goes first:
    a server extension left alone is harmless, a front end without it shows an error."""
    root = Path(prefix) if prefix is not None else Path(sys.prefix)
    extension, config = _paths(root)
    removed: list[Path] = []
    step = extension
    try:
        if extension.is_symlink() or extension.is_file():
            extension.unlink()  # the link only: the checkout's labextension/ stays
            removed.append(extension)
        elif extension.is_dir():
            shutil.rmtree(extension)
            removed.append(extension)
        step = config
        if config.exists():
            config.unlink()
            removed.append(config)
    except OSError as exc:
        raise OSError(
            f"the panel is not uninstalled from {root}: {step} could not be removed "
            f"({exc.strerror or exc}); run this as the owner of {root}",
        ) from exc
    return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m easlab.lab.install",
        description=(
            'Put the "EAS services" panel into a Jupyter environment: a link to the '
            "prebuilt front end under PREFIX/share/jupyter/labextensions/easlab-lab and the "
            "config enabling its server extension, PREFIX/etc/jupyter/"
            "jupyter_server_config.d/easlab.json. --uninstall removes both."
        ),
        epilog=(
            "To turn the panel off without removing it: `jupyter labextension disable "
            "easlab-lab` and `jupyter server extension disable easlab.lab`. A wheel's copy "
            "goes with `pip uninstall easlab`."
        ),
    )
    parser.add_argument(
        "--uninstall",
        action="store_true",
        help="remove the panel and its server extension's config instead of installing them",
    )
    parser.add_argument(
        "--prefix",
        default=None,
        help=f"the environment to (un)install into (default: this Python's, {sys.prefix})",
    )
    args = parser.parse_args(argv)
    root = Path(args.prefix) if args.prefix is not None else Path(sys.prefix)
    try:
        if args.uninstall:
            removed = uninstall(root)
            if not removed:
                print(f"[OK] nothing to remove: the panel is not installed in {root}")
            for path in removed:
                print(f"[OK] removed {path}")
            return 0
        written = install(root)
    except OSError as exc:  # FileNotFoundError (not built) included
        print(f"[FAILED] {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"[OK] {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

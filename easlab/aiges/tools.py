"""``easlab aiges schema|run|create``: the SDK's tools, run with easlab's aiges surface.

``schema`` and ``run`` load and run the wrapper in its own folder (as the
kernel does); ``--input``, ``--out`` and ``--config`` paths are the caller's.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{what} {item!r}: write KEY=VALUE")
        out[key] = value
    return out


@contextlib.contextmanager
def _in_folder(folder: Path) -> Iterator[None]:
    # contextlib.chdir is 3.11+; easlab supports 3.10
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def _load(entry: Path) -> type:
    from easlab.aiges.loader import WrapperLoadError, load_wrapper_class

    try:
        return load_wrapper_class(entry)
    except WrapperLoadError as exc:
        raise ValueError(str(exc)) from None  # a usage mistake: one line, no traceback
    except Exception as exc:  # the wrapper's own import failed: show where, in its code
        from easlab.errors import EaslabError

        raise EaslabError(_import_failure(entry, exc)) from None


def _import_failure(entry: Path, exc: BaseException) -> str:
    """Why a wrapper.py could not be imported: its traceback without easlab's frames (the
    CLI, the loader, the aiges shim) and Python's import machinery, as the kernel shows it."""
    import traceback

    import easlab

    ours = os.path.dirname(os.path.abspath(easlab.__file__ or "")) + os.sep
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not os.path.abspath(f.filename).startswith(ours) and not f.filename.startswith("<")
    ]
    shown = "".join(traceback.format_list(frames)) if frames else ""
    last = "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
    head = f"{entry.name if entry.is_file() else 'wrapper.py'} could not be imported:\n"
    if shown:
        head += "Traceback (most recent call last):\n" + shown
    return head + last


def aiges(
    action: str,
    target: str | None = None,
    name: str | None = None,
    path: str = ".",
    param: list[str] | None = None,
    input: list[str] | None = None,
    out: str = ".",
    config: str | None = None,
) -> int:
    """Run one aiges tool; prints its result and returns the exit code."""
    if action == "create":
        from easlab.aiges.scaffold import create_project

        if not name:
            raise ValueError("easlab aiges create needs -n NAME")
        folder = create_project(name, path)
        print(f"[OK] created {folder}: try `cd {folder} && easlab aiges run wrapper.py`")
        return 0
    if not target:
        raise ValueError(f"easlab aiges {action} needs the wrapper.py (or its folder)")
    # what the caller names is relative to where they are; then the wrapper runs
    # in its own folder, as the kernel runs it (the SDK's template opens
    # test_data/... relative to it)
    entry = Path(target).resolve()
    folder = entry if entry.is_dir() else entry.parent
    if not folder.is_dir():
        _load(entry)  # raises the loader's "not found" message
    if action == "schema":
        from easlab.aiges.schema import schema_text

        with _in_folder(folder):
            print(schema_text(_load(entry)))
        return 0
    from easlab.aiges.config import (
        AIGES_TOML,
        WrapperLoadError,
        option_config,
        plugin_mode,
        toml_config,
    )
    from easlab.aiges.hooks import new_wrapper
    from easlab.aiges.runner import run_wrapper

    init_config: dict[str, Any] | None = None
    if config:
        # strings, as the platform's loader and the kernel's model_config hand them
        is_file = Path(config).is_file()
        text = Path(config).read_text() if is_file else config
        try:
            init_config = dict(option_config(text, f"file {config}" if is_file else "its text"))
        except WrapperLoadError as exc:
            raise ValueError(str(exc)) from None
    elif (folder / AIGES_TOML).is_file():
        # the platform's wrapperInit config: read as the kernel reads it
        try:
            init_config = dict(toml_config(folder / AIGES_TOML))
        except WrapperLoadError as exc:
            raise ValueError(str(exc)) from None
    inputs = {k: Path(v).resolve() for k, v in _pairs(input, "--input").items()}
    for key, file in inputs.items():
        if not file.is_file():
            raise ValueError(f"--input {key}={file}: no such file")
    out_dir = Path(out).resolve()
    with _in_folder(folder):
        cls = _load(entry)
        try:
            wrapper = new_wrapper(cls, plugin_mode())
        except TypeError as exc:
            raise ValueError(str(exc)) from None
        return run_wrapper(
            wrapper,
            config=init_config,
            params=_pairs(param, "--param"),
            inputs=inputs,
            out_dir=out_dir,
            out=sys.stdout,
        )

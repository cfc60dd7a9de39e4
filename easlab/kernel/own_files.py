"""A packaged app's files named as the user's own, in every traceback.

A processor packed into an archive (``processor_path`` a .tar.gz or .zip) runs
from its unpacked copy in the kernel's cache (fetch.py), so Python named the
copy in every traceback: the kernel's report of a failure, and also the ones the
app prints itself (``traceback.print_exc()``, ``logging.exception``), where the
user looked for the file they edit. A module of the copy is therefore compiled
under the name of the user's own file that was packed (``processor_sources``,
fetch.py ``packed_from``), when that file still has the same bytes: its lines
are the ones that run. ``__file__`` stays the copy's, so the app's relative opens
find what EAS would give it. A file edited since it was packed keeps the copy's
name, whose lines are the ones that ran.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
from collections.abc import Sequence
from types import CodeType, ModuleType
from typing import Any

#: (the copy's folder, the folders it was packed from); empty unless packaged
_package: tuple[str, list[str]] = ("", [])


def use_package(copy: str, sources: list[str]) -> None:
    """Name the files under ``copy`` as their twins in ``sources`` from now on."""
    global _package
    _package = (copy, list(sources))
    if copy and sources and not any(isinstance(f, _OwnFileFinder) for f in sys.meta_path):
        # ahead of PathFinder, for the copy's modules only (find_spec)
        sys.meta_path.insert(0, _OwnFileFinder())


def _within(path: str, folder: str) -> bool:
    relative = os.path.relpath(os.path.abspath(path), folder)
    return not relative.startswith(os.pardir)


def own_file(filename: str) -> str:
    """``filename`` of a package's cached copy as the user's own file that was packed
    (the one they edit), when that file still has the same bytes; else ``filename``,
    whose lines are the ones that ran."""
    copy, sources = _package
    if not copy or not sources or not _within(filename, copy):
        return filename
    relative = os.path.relpath(os.path.abspath(filename), copy)
    try:
        with open(filename, "rb") as fh:
            ran = fh.read()
    except OSError:
        return filename
    for folder in sources:
        own = os.path.join(folder, relative)
        try:
            with open(own, "rb") as fh:
                if fh.read() == ran:
                    return own
        except OSError:
            continue
    return filename


class OwnFileLoader(importlib.machinery.SourceFileLoader):
    """Compiles a copy's module under its own file's name (module doc).

    Always from the source: a cached .pyc would be given the copy's name again
    when loaded (``importlib._bootstrap_external._fix_up_module``'s filename fix).
    """

    def get_code(self, fullname: str) -> CodeType:
        path = self.get_filename(fullname)
        return compile(self.get_data(path), own_file(path), "exec", dont_inherit=True)


class _OwnFileFinder:
    """Finds the modules a packaged app imports from its copy (its neighbours) with
    ``OwnFileLoader``; every other module is left to the usual finders."""

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> Any:
        copy = _package[0]
        if not copy:
            return None
        # the copy's folders on the search path, in order: the app's folder is first
        # on sys.path (python.py), so a module there is what the import would find
        folders = [p for p in (sys.path if path is None else path) if p and _within(p, copy)]
        if not folders:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, folders, target)
        if spec is None or type(spec.loader) is not importlib.machinery.SourceFileLoader:
            return None
        assert spec.origin is not None  # a source file's spec has one
        spec.loader = OwnFileLoader(name, spec.origin)
        return spec


def loader_for(name: str, path: str) -> OwnFileLoader | None:
    """The loader for an app's entry file: ``OwnFileLoader`` for a file of the copy,
    None (Python's own) otherwise."""
    copy = _package[0]
    return OwnFileLoader(name, path) if copy and _within(path, copy) else None

"""Make a wrapper's ``aiges.*`` imports resolve to easlab's implementation.

Installed only where easlab runs a wrapper (an aiges kernel instance, ``easlab
aiges run`` / ``schema``), never on ``import easlab``: the real SDK installed
in the same environment stays what every other program imports.

``aiges``, ``aiges.sdk``, ``aiges.dto``, ``aiges.stream``, ``aiges.core``, ``aiges.core.types``,
``aiges.utils``, ``aiges.utils.log``, ``aiges.errors``, ``aiges.callback`` (the
gRPC plugin's ``callback(r, handle, sid)``) and ``aiges_embed`` (the C++
loader's module) are provided; any other ``aiges.*`` module is an ImportError
naming what is available, and what to import instead where there is an answer.
Under ``AIGES_PLUGIN_MODE=python`` (the SDK's gRPC plugin, config.plugin_mode)
``aiges_embed`` is an ImportError too, as there: the SDK template's ``try: from
aiges_embed import ... except: from aiges.dto import ...`` takes aiges.dto's types.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from typing import Any

#: module a wrapper imports -> easlab module that implements it (None: a bare package)
SURFACE: dict[str, str | None] = {
    "aiges": None,
    "aiges.sdk": "easlab.aiges.sdk",
    "aiges.dto": "easlab.aiges.dto",
    "aiges.stream": "easlab.aiges.stream",
    "aiges.core": None,
    "aiges.core.types": "easlab.aiges.types",
    "aiges.utils": None,
    "aiges.utils.log": "easlab.aiges.log",
    "aiges.errors": "easlab.aiges.errors",
    # the gRPC plugin's module: callback(r, handle, sid) hands a session's result back
    "aiges.callback": "easlab.aiges.callbacks",
    # the C++ loader's module: the same types, and its metric and trace callbacks
    "aiges_embed": "easlab.aiges.embed",
}


#: modules a wrapper may try that easlab does not provide -> what to import instead
INSTEAD: dict[str, str] = {
    # the SDK's own stream examples import it; aiges 0.16.0 has no such module either
    "aiges.types": "aiges 0.16.0 has no aiges.types either: import the data types and "
    "statuses from aiges.core.types (from aiges.core.types import *)",
}


class _Refuse(importlib.abc.MetaPathFinder):
    """Stops ``aiges.<anything else>`` from falling through to a real SDK on sys.path, and
    ``aiges_embed`` where the loader run has none (the gRPC plugin)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname == "aiges_embed" and self.mode == "python":
            raise ModuleNotFoundError(
                "No module named 'aiges_embed': it is the module of aiges's C++ loader, and "
                "this wrapper runs as under its Python plugin (AIGES_PLUGIN_MODE=python), "
                "which has none: import the types from aiges.dto (or unset AIGES_PLUGIN_MODE)",
                name=fullname,
            )
        if fullname.startswith("aiges.") and fullname not in SURFACE:
            hint = INSTEAD.get(fullname) or (
                "easlab provides what the platform's loaders give a wrapper, not the "
                "SDK's tooling (its servers, client, CLI)"
            )
            raise ModuleNotFoundError(
                f"{fullname} is not part of easlab's aiges surface: {hint} (a wrapper can "
                f"import: {', '.join(sorted(k for k in SURFACE if SURFACE[k]))})",
                name=fullname,
            )
        return None


_installed = False


def install() -> None:
    """Alias the aiges modules to easlab's (idempotent; for this process), those of the
    loader ``AIGES_PLUGIN_MODE`` names (config.plugin_mode: WrapperLoadError for a value
    aiges refuses)."""
    global _installed
    if _installed:
        return
    from easlab.aiges.config import plugin_mode

    mode = plugin_mode()
    for name in [n for n in sys.modules if n == "aiges" or n.startswith("aiges.")]:
        del sys.modules[name]  # a real SDK imported earlier is replaced for the wrapper
    for name, target in SURFACE.items():
        if name == "aiges_embed" and mode == "python":
            continue
        if target is None:
            module = types.ModuleType(name, f"easlab's aiges surface: {name}")
            module.__path__ = []  # a package, so submodules can be imported
            module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
        else:
            module = importlib.import_module(target)
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)
    sys.meta_path.insert(0, _Refuse(mode))
    _installed = True

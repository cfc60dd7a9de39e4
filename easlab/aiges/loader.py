"""Loading a ``wrapper.py`` and finding its Wrapper class."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from easlab.aiges import shim
from easlab.aiges.config import WrapperLoadError

__all__ = ["WrapperLoadError", "load_wrapper_class"]


def load_wrapper_class(path: str | Path) -> type:
    """Import ``path`` (a wrapper.py, or a folder holding one) with the aiges shim; its Wrapper class."""
    shim.install()
    from easlab.aiges.sdk import WrapperBase

    file = Path(path)
    if file.is_dir():
        file = file / "wrapper.py"
    if not file.is_file():
        raise WrapperLoadError(f"{file} not found: an aiges service needs a wrapper.py")
    folder = str(file.parent.resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)  # the wrapper imports its neighbours, as in aiges
    name = file.stem
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise WrapperLoadError(f"cannot load {file} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    found = [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, WrapperBase) and v is not WrapperBase
    ]
    own = [cls for cls in found if cls.__module__ == module.__name__]
    named = [cls for cls in own if cls.__name__ == "Wrapper"]
    candidates = named or own or found
    if not candidates:
        raise WrapperLoadError(
            f"{file} defines no subclass of aiges.sdk.WrapperBase; "
            "write `class Wrapper(WrapperBase)` with wrapperInit and wrapperOnceExec"
        )
    return candidates[-1]

"""Lazy re-exports for package ``__init__`` modules: ``import easlab`` stays cheap.

>>> __getattr__, __dir__ = lazy_exports(__name__, {"PredictClient": "easlab.client.predict_client"})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str], eager: tuple[str, ...] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` importing ``exports[name]`` on first use, and its ``__dir__``.

    The value is cached in the package's namespace, so the import happens once.
    ``eager`` names what the package defines itself (listed by ``dir()`` too).
    """
    names = sorted({*exports, *eager})

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return names

    return __getattr__, __dir__

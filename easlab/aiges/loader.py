"""Loading a ``wrapper.py`` and finding its Wrapper class."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from easlab.aiges import shim


class WrapperLoadError(Exception):
    """The wrapper file cannot be loaded or defines no Wrapper."""


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


def loader_string(value: Any) -> str:
    """A config value as the aiges loader hands it over: a string (JSON spelling for
    numbers, booleans and nested values, so ``json.loads`` reads them back)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def init_config(model_config: Any, wrapper_cls: type) -> dict[str, str]:
    """The ``config`` wrapperInit gets: the service's model_config, else the class's ``config``.

    The real loader receives ``map<string, string>`` (aiges_inner.proto
    ``InitRequest.config``), so every value arrives as a string here too:
    ``{"n": 3}`` gives ``{"n": "3"}`` and the wrapper converts what it needs
    (``int(config["n"])``), as it must on the platform.
    """
    if model_config is None or model_config == "":
        value = dict(getattr(wrapper_cls, "config", None) or {})
    elif isinstance(model_config, str):
        try:
            value = json.loads(model_config)
        except ValueError:
            raise WrapperLoadError(
                "model_config must be a JSON object for an aiges service "
                f"(wrapperInit gets it as a dict), got {model_config[:80]!r}"
            ) from None
    else:
        value = model_config
    if not isinstance(value, dict):
        raise WrapperLoadError(
            f"model_config must be a JSON object for an aiges service, got {type(value).__name__}"
        )
    return {str(k): loader_string(v) for k, v in value.items()}

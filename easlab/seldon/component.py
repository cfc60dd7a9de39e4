"""Load a component class from its folder and build it with typed parameters,
as ``seldon-core-microservice MyModel --parameters '[...]'`` does."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from easlab.seldon.errors import SeldonMicroserviceException

_TYPES: dict[str, Any] = {"INT": int, "FLOAT": float, "DOUBLE": float, "STRING": str}
_TRUE = ("y", "yes", "t", "true", "on", "1")
_FALSE = ("n", "no", "f", "false", "off", "0")


def _bool(value: Any) -> bool:
    text = str(value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"invalid truth value {value!r}")


def parse_parameters(parameters: Any) -> dict[str, Any]:
    """``[{"name", "value", "type"}]`` (a list or its JSON) → ``__init__`` keyword arguments.

    Types are INT, FLOAT, DOUBLE, STRING and BOOL (y/yes/t/true/on/1 or n/no/f/false/off/0).
    """
    if isinstance(parameters, str):
        parameters = json.loads(parameters or "[]")
    parsed: dict[str, Any] = {}
    for param in parameters or []:
        name, value, kind = param.get("name"), param.get("value"), param.get("type")
        if kind == "BOOL":
            parsed[name] = _bool(value)
            continue
        if kind not in _TYPES:
            raise SeldonMicroserviceException(
                f"Bad model parameter type: {kind} valid are INT, FLOAT, DOUBLE, STRING, BOOL",
                reason="MICROSERVICE_BAD_PARAMETER",
            )
        try:
            parsed[name] = _TYPES[kind](value)
        except ValueError:
            raise SeldonMicroserviceException(
                f"Bad model parameter: {name} with value {value} can't be parsed as a {kind}",
                reason="MICROSERVICE_BAD_PARAMETER",
            ) from None
    return parsed


def load_component_class(folder: Path, class_name: str, entry: str | None = None) -> type:
    """The class ``class_name`` from ``folder/<entry or class_name.py>`` (or a module
    ``a.b.Class`` importable from ``folder``)."""
    folder = Path(folder)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    module_name, _, attr = class_name.rpartition(".")
    if not module_name:
        module_name, attr = class_name, class_name
    path = folder / entry if entry else folder / f"{module_name.replace('.', '/')}.py"
    if path.is_file():
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path} as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if not (module_name == missing or module_name.startswith(missing + ".")):
                raise  # the component's own import of something not installed
            top = module_name.partition(".")[0]
            raise ModuleNotFoundError(
                f"no {path.relative_to(folder)} in {folder}: the class {class_name} is loaded "
                f"from it (processor_mainclass, or a seldon.graph node's class, names the class "
                "and its file: MyModel.py for MyModel, parts.py for parts.MyModel)",
                name=top,
            ) from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ImportError(
            f"{path} defines no class {attr!r}; processor_mainclass names the class "
            "(and its file, MyModel.py for MyModel, unless processor_entry says otherwise)"
        ) from None


def build_component(cls: type, parameters: Any = None) -> Any:
    """``cls(**typed parameters)`` then ``load()`` once, before any request."""
    instance = cls(**parse_parameters(parameters))
    loader = getattr(instance, "load", None)
    if callable(loader):
        loader()
    return instance

